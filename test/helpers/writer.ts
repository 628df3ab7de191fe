/**
 * What the writer's tests share: the record of one line as the server makes it (framer, then
 * toRecord, received now), from one test peer, and a writer with small bounds on a test database.
 */
import pino, { type Logger } from 'pino';
import { Framer } from '../../src/framing/framer.js';
import type { LedgerRecord } from '../../src/ledger/types.js';
import { LedgerWriter, type WriterOptions } from '../../src/ledger/writer.js';
import type { PeerIdentity } from '../../src/listener/identity.js';
import type { Metrics } from '../../src/metrics/registry.js';
import { toRecord } from '../../src/stages.js';

export const TEST_PEER: PeerIdentity = { cn: 'client1.example.com', sans: [], subject: 'CN=client1.example.com', fingerprint: '00', address: '192.0.2.7:40000' };

/** `line` (no LF) as one frame from TEST_PEER, through the stages. */
export function recordOf(line: string, metrics: Metrics): LedgerRecord {
  const [frame] = new Framer({ maxFrameBytes: 65536 }).push(Buffer.from(`${line}\n`));
  return toRecord(frame!, TEST_PEER, Date.now() * 1000, { format: 'auto', timeZone: 'UTC' }, metrics);
}

/** A writer of `chain` on `url`: batches of 100, 1,000 events or 1 MiB held (`over`: other options). */
export function testWriter(url: string, chain: string, metrics: Metrics, over: Partial<WriterOptions> & { log?: Logger } = {}): LedgerWriter {
  return new LedgerWriter({ databaseUrl: url, chain, metrics, log: pino({ level: 'silent' }), batchMaxEvents: 100, queueMaxEvents: 1000, queueMaxBytes: 1 << 20, ...over });
}
