/**
 * The integrity pieces wired to the real writer and the real verify, as serve and verify should wire
 * them (docs/integrity.md): writer onCommitted -> Checkpointer; verifyLedger onRow -> CheckpointVerifier.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpointer } from '../../src/checkpoints/checkpointer.js';
import type { LedgerRecord } from '../../src/ledger/types.js';
import { verifyLedger } from '../../src/verify/verify.js';
import { LedgerWriter } from '../../src/ledger/writer.js';
import { loadOrCreateSigningKey, loadPublicKey, type SigningKey } from '../../src/checkpoints/signing.js';
import { CheckpointVerifier } from '../../src/verify/checkpoints.js';
import { Metrics } from '../../src/metrics/registry.js';
import { liftColumns } from '../../src/normalize/columns.js';
import type { OcsfEvent } from '../../src/normalize/types.js';
import { createDb, tamper, tempDir, type TestDb } from './helpers.js';

let db: TestDb;
let tmp: Awaited<ReturnType<typeof tempDir>>;
let key: SigningKey;
const CHAIN = 'wired';

function record(i: number): LedgerRecord {
  const ms = 1_700_000_000_000 + i;
  const event: OcsfEvent = { class_uid: 0, category_uid: 0, activity_id: 0, type_uid: 0, severity_id: 1, status_id: 0, time: ms, metadata: { version: '1.3.0' }, message: `event ${i}` };
  const syslog = { facility: 1, severity: 6, timestamp: null, hostname: 'web1', app_name: 'app', procid: null, msgid: null, structured_data: null, message: `event ${i}` };
  return {
    receivedAtUs: ms * 1000,
    peer: { cn: 'web1', sans: ['DNS:web1'], subject: 'CN=web1', fingerprint: '00', address: '192.0.2.1:50000' },
    raw: Buffer.from(`<14>1 - web1 app - - - event ${i}`),
    truncated: false,
    format: 'rfc5424',
    parseError: null,
    syslog,
    event,
    columns: liftColumns(event),
  };
}

async function verifyAll(): Promise<{ rows: number; findings: string[] }> {
  const cv = await CheckpointVerifier.load({
    ledgerId: db.ledgerId,
    keys: [await loadPublicKey(tmp.path('signing.key.pub'))],
    files: [tmp.path('checkpoints.jsonl')],
  });
  const report = await verifyLedger(db.url, { onRow: (chain, seq, hash) => cv.feed(chain, seq, hash) });
  return { rows: report.rows, findings: [...report.findings.map((f) => `${f.kind}@${f.seq}`), ...cv.finish().map((f) => `${f.kind}@${f.seq}`)] };
}

beforeAll(async () => {
  db = await createDb('sl_wiring');
  tmp = await tempDir();
  key = await loadOrCreateSigningKey(tmp.path('signing.key'));
});
afterAll(async () => {
  await db.drop();
  await tmp.remove();
});

describe('integrity wiring', () => {
  it('wiring: writer commits feed the checkpointer; verify with checkpoints passes, then catches truncation', async () => {
    const log = pino({ level: 'silent' });
    const metrics = new Metrics({ defaultMetrics: false });
    const checkpointer = new Checkpointer({ key, file: tmp.path('checkpoints.jsonl'), metrics, log });
    await checkpointer.init(db.pool, { chains: [CHAIN] });
    checkpointer.start();
    const writer = new LedgerWriter({
      databaseUrl: db.url,
      chain: CHAIN,
      metrics,
      log,
      batchMaxEvents: 500,
      queueMaxEvents: 100_000,
      queueMaxBytes: 1 << 30,
      onCommitted: (rows) => checkpointer.onCommitted(CHAIN, rows),
    });
    await writer.start();
    for (let i = 1; i <= 2345; i++) writer.enqueue(record(i));
    await writer.close();
    await checkpointer.close();
    expect(checkpointer.lastCheckpoint?.seq).toBe(2345);

    const intact = await verifyAll();
    expect(intact).toEqual({ rows: 2345, findings: [] });

    await tamper(db.pool, 'ledger', 'DELETE FROM ledger WHERE chain = $1 AND seq > 2300', [CHAIN]);
    await tamper(db.pool, 'chains', "UPDATE chains SET head_seq = 2300, head_hash = (SELECT hash FROM ledger WHERE chain = 'wired' AND seq = 2300) WHERE chain = 'wired'");
    const truncated = await verifyAll();
    expect(truncated.findings).toEqual(['truncated@2301']);
  });
});
