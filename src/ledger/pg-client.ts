/**
 * Small helpers for the writer's pg clients, shared by the writer (src/ledger/writer.ts), its
 * sessions, the chain-ownership SQL and the batch transaction: ending a client that may sit behind
 * a network partition, naming a failure for the db-errors metric, and the wait between attempts.
 */
import type pg from 'pg';

/** Ends a connection; one that does not answer within a second (a partition) is cut. */
export async function closeClient(client: pg.Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([
    client.end().then(() => true, () => true),
    new Promise<boolean>((res) => (timer = setTimeout(() => res(false), 1000).unref())),
  ]);
  clearTimeout(timer);
  if (!ended) (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/** The `kind` label of a database failure: its SQLSTATE class, a driver error code, or `other`. */
export function pgErrorKind(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return `sqlstate_${code.slice(0, 2)}`;
  if (typeof code === 'string') return code.toLowerCase();
  return 'other';
}

/** A backoff that does not keep the process alive (a forced exit must not wait for it). */
export function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms).unref());
}
