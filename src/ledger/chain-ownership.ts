/**
 * One writer per chain, enforced by the database: the SQL that takes a chain (its advisory lock,
 * after ending this writer's own stale sessions; its epoch bumped, which fences off any earlier
 * owner) and the check every batch's transaction makes before it moves the head (same epoch, same
 * head). Functions over a pg client, holding no state: the writer (src/ledger/writer.ts) keeps the
 * epoch it took and the pids of its sessions. Kept apart so that the whole ownership protocol reads
 * in one place, next to the errors it raises.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { ChainDivergedError, ChainFencedError, ChainLockedError, describeError } from '../errors.js';
import { sleep } from './pg-client.js';
import type { ChainHead } from './types.js';

/** The chain's advisory lock key is hashtextextended(CHAIN_LOCK_PREFIX || chain, 0) (src/relp/seed.ts reads pg_locks with it). */
export const CHAIN_LOCK_PREFIX = 'syslog-ledger:chain:';
const lockKey = (chain: string): string => `${CHAIN_LOCK_PREFIX}${chain}`;

/**
 * Takes the chain's advisory lock on `client`, or throws ChainLockedError. With `retry` (a
 * reconnect, not the first start) it tries for about two seconds: a session just ended may take a
 * moment to release the lock.
 */
export async function lockChain(client: pg.Client, chain: string, retry: boolean): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const locked = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [lockKey(chain)]);
    if (locked.rows[0]?.ok) break;
    if (!retry || attempt >= 20) throw new ChainLockedError(chain);
    await sleep(100);
  }
}

/**
 * After a lost connection, this writer's previous sessions (`pids`) may still be alive on the
 * server (a partition: the server has not noticed yet), holding the chain's advisory lock, its row
 * lock, or an open transaction. They are ours (same pid, same application name): end them and wait
 * until they are gone, so that the head read next is final. A transaction whose COMMIT the server
 * had already taken completes; any other rolls back.
 */
export async function endStaleSessions(client: pg.Client, pids: number[], appName: string, chain: string, log: Logger): Promise<void> {
  if (pids.length === 0) return;
  const live = 'FROM pg_stat_activity WHERE pid = ANY($1::int[]) AND application_name = $2';
  try {
    const ended = await client.query<{ pid: number }>(`SELECT pid, pg_terminate_backend(pid) ${live}`, [pids, appName]);
    if (ended.rowCount) log.warn({ chain, pids: ended.rows.map((r) => r.pid) }, "ended this writer's previous database sessions, still open after the connection was lost");
    for (let i = 0; i < 50; i++) {
      const left = await client.query<{ n: number }>(`SELECT count(*)::int AS n ${live}`, [pids, appName]);
      if (left.rows[0]?.n === 0) break;
      await sleep(100);
    }
  } catch (err) {
    log.warn({ err: describeError(err), pids }, "could not end this writer's previous database sessions; waiting for the chain lock instead");
  }
}

/**
 * Takes the chain (the advisory lock is held): creates its row if new, then bumps its epoch and
 * reads its head in one statement. A writer that had it before, still running somewhere, is fenced
 * off by the new epoch.
 */
export async function takeChain(owner: pg.Client, chain: string, log: Logger): Promise<{ epoch: bigint; head: ChainHead }> {
  await owner.query('INSERT INTO chains (chain) VALUES ($1) ON CONFLICT (chain) DO NOTHING', [chain]);
  const res = await owner.query<{ head_seq: string; head_hash: Buffer; epoch: string }>('UPDATE chains SET epoch = epoch + 1 WHERE chain = $1 RETURNING head_seq, head_hash, epoch', [chain]);
  const row = res.rows[0]!;
  const epoch = BigInt(row.epoch);
  log.info({ chain, epoch: row.epoch, headSeq: Number(row.head_seq) }, 'took the chain');
  return { epoch, head: { seq: Number(row.head_seq), hash: row.head_hash } };
}

/**
 * In every batch's transaction, after its COPY: locks the chain row and checks that this writer
 * still owns the chain (the epoch it took) and that the head is the one the batch follows.
 * Either failing rolls the whole batch back: not one row of it is appended.
 */
export async function checkOwnership(client: pg.Client, chain: string, epoch: bigint | undefined, prev: ChainHead): Promise<void> {
  const head = await client.query<{ head_seq: string; head_hash: Buffer; epoch: string }>('SELECT head_seq, head_hash, epoch FROM chains WHERE chain = $1 FOR UPDATE', [chain]);
  const h = head.rows[0];
  if (h && epoch !== undefined && BigInt(h.epoch) !== epoch) throw new ChainFencedError(chain, epoch, BigInt(h.epoch));
  if (!h || Number(h.head_seq) !== prev.seq || !h.head_hash.equals(prev.hash)) {
    throw new ChainDivergedError(chain, BigInt(prev.seq), BigInt(h?.head_seq ?? -1));
  }
}
