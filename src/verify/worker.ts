/**
 * A verify worker thread (verify-pool.ts starts them): its own PostgreSQL connection, importing the
 * coordinator's snapshot (SET TRANSACTION SNAPSHOT) so that every worker reads the very same ledger,
 * then ranges one at a time through RangeVerifier. Row hashes go back in batches; findings and the
 * first/last row of each range with its summary.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { READER_OPTIONS, type ChainRange } from './copy.js';
import { RangeVerifier } from './range.js';
import { InternalError } from '../errors.js';

/** workerData. */
export interface WorkerInit {
  readonly url: string;
  readonly snapshot: string;
  readonly maxFindings: number;
}

export type ToWorker = { readonly type: 'task'; readonly id: number; readonly range: ChainRange } | { readonly type: 'end' };

export type FromWorker =
  | { readonly type: 'hashes'; readonly id: number; readonly seqs: Float64Array; readonly hashes: Uint8Array; readonly n: number }
  | { readonly type: 'done'; readonly id: number; readonly summary: unknown }
  | { readonly type: 'error'; readonly message: string };

const port = parentPort;
if (port === null) throw new InternalError('verify-worker.js runs as a worker thread');
const init = workerData as WorkerInit;
const post = (m: FromWorker): void => port.postMessage(m);

const client = new pg.Client({ connectionString: init.url, application_name: 'syslog-ledger verify worker', options: READER_OPTIONS });
const verifier = new RangeVerifier({ maxFindings: init.maxFindings });
const queue: ToWorker[] = [];
let wake: (() => void) | undefined;
port.on('message', (m: ToWorker) => {
  queue.push(m);
  wake?.();
});

try {
  await client.connect();
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  await client.query(`SET TRANSACTION SNAPSHOT ${client.escapeLiteral(init.snapshot)}`);
  for (;;) {
    const m = queue.shift() ?? (await new Promise<void>((r) => (wake = r)).then(() => queue.shift()));
    wake = undefined;
    if (m === undefined) continue;
    if (m.type === 'end') break;
    // Copied, not transferred: the first ArrayBuffer a thread detaches (a transfer does) invalidates
    // V8's "no detached buffers" assumption, and every optimized function that reads a typed array is
    // thrown away and compiled again (a large share of a run's compile time, bench/verify.ts), against
    // ~0.1 ms to copy a batch.
    const summary = await verifier.run(client, m.range, (seqs, hashes, n) => post({ type: 'hashes', id: m.id, seqs, hashes, n }));
    post({ type: 'done', id: m.id, summary });
  }
  await client.query('COMMIT');
} catch (err) {
  post({ type: 'error', message: (err as Error).message });
} finally {
  await client.end().catch(() => {});
  port.close();
}
