/**
 * Committing chained batches: pipelined over the writer's connections in seq order; each batch's
 * transaction on one connection (BEGIN, the batch's new connection rows, its binary COPY, then,
 * only once the batch before it has committed, the ownership check and the head update, COMMIT;
 * ROLLBACK on any failure); and the commit timeout, which cuts a connection whose transaction does
 * not finish (a network partition otherwise leaves a COMMIT waiting forever). Apart from the writer
 * (src/ledger/writer.ts), which decides, from the chain head, what a failed batch means.
 */
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { DatabaseError } from '../errors.js';
import { checkOwnership } from './chain-ownership.js';
import type { ChainedBatch } from './chainer.js';
import { closeClient } from './pg-client.js';
import { CONNECTION_INSERT_SQL, V3_COPY_SQL } from './row.js';

export const DEFAULT_COMMIT_TIMEOUT_MS = 30_000;

/** A chained batch and its transaction, once started. */
export interface PipelinedBatch extends ChainedBatch {
  run?: Promise<void> | undefined;
}

/**
 * Starts the in-flight batches not yet started, each on the next connection, so PostgreSQL ingests
 * batch k+1 while batch k commits. Commits stay in seq order: a batch takes the chain-row lock and
 * checks the head only after the batch before it committed; if that one failed, it rolls back too.
 * A connection carries one transaction at a time: batch k+2 starts on batch k's connection only
 * after batch k finished.
 */
export function startPipelined(inflight: readonly PipelinedBatch[], conns: { next(): pg.Client }, chain: string, epoch: bigint | undefined, timeoutMs: number): void {
  let previous: Promise<void> = Promise.resolve();
  for (const b of inflight) {
    if (!b.run) {
      b.run = commitBatch(conns.next(), chain, epoch, b, previous, timeoutMs);
      // A rejection is handled through the first batch's await; keep it from being reported as unhandled.
      b.run.catch(() => {});
    }
    previous = b.run;
  }
}

/**
 * Writes and commits `batch` on `client` within `timeoutMs`, else cuts the connection and throws
 * DatabaseError. `before`: the previous batch's commit, awaited after the COPY (commits stay in seq
 * order; if it fails, this one rolls back too). `epoch`: the chain's epoch this writer took.
 */
async function commitBatch(client: pg.Client, chain: string, epoch: bigint | undefined, batch: ChainedBatch, before: Promise<void>, timeoutMs: number): Promise<void> {
  let timedOut = false;
  const timer = setTimeout(() => {
    // Cutting the connection fails the statement waiting on it; whether a COMMIT already sent
    // took effect is read from the chain head after reconnecting.
    timedOut = true;
    void closeClient(client);
  }, timeoutMs);
  try {
    await transaction(client, chain, epoch, batch, before);
  } catch (err) {
    if (timedOut) throw new DatabaseError(`batch transaction did not finish within ${timeoutMs} ms; connection cut`, { cause: err });
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

async function transaction(client: pg.Client, chain: string, epoch: bigint | undefined, p: ChainedBatch, before: Promise<void>): Promise<void> {
  await client.query('BEGIN');
  try {
    for (const c of p.connections) {
      const r = c.record;
      await client.query(CONNECTION_INSERT_SQL, [chain, c.id, r.transport, r.peer_addr, r.peer_cn, r.peer_sans, r.peer_subject, r.peer_fingerprint]);
    }
    await pipeline(Readable.from(p.copy), client.query(copyStreams.from(V3_COPY_SQL)));
    await before;
    await checkOwnership(client, chain, epoch, p.prev);
    await client.query('UPDATE chains SET head_seq = $2, head_hash = $3, updated_at = now() WHERE chain = $1', [chain, p.last.seq, p.last.hash]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
