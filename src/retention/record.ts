/**
 * Retention records: what left the ledger, written into the ledger itself (docs/retention.md).
 *
 * A retention record is an `internal` row (OCSF 1008 Event Log Activity: 4 Archive, or 2 Delete for
 * an expired archive) of its own chain, RETENTION_CHAIN, which only `syslog-ledger archive` writes
 * (it holds the chain's advisory lock, as a writer does). It is inserted in the same transaction that
 * detaches and drops the partition, so the ledger never shows rows gone without the record saying so.
 *
 * Each record carries the cumulative `boundaries`: for every chain whose oldest rows were archived,
 * the first seq still in the database, the prev_hash that row must have, and the Merkle frontier of
 * the rows before it. The latest trusted record is therefore all `verify` needs, even after older
 * retention records have themselves been archived with their partitions.
 * Which records verify trusts: src/retention/boundaries.ts.
 */
import { hostname } from 'node:os';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { chainRecord } from '../ledger/canonical.js';
import { keyMap, parseCheckpoint, signCheckpoint, verifyCheckpointSignature, type Checkpoint } from '../checkpoints/checkpoint.js';
import { CheckpointFile, readTailCheckpoints } from '../checkpoints/file.js';
import { COPY_SQL, copyLine } from '../ledger/copy.js';
import { MerkleAccumulator } from '../checkpoints/merkle.js';
import { STORED_MIN_LEVEL, insertNodes, readRowHashes, type PendingNode, type Queryable } from '../checkpoints/merkle-store.js';
import type { SigningKey, VerifyingKey } from '../checkpoints/signing.js';
import { ZERO_HASH, type ChainedRecord, type LedgerRecord } from '../ledger/types.js';
import { SERVER_PEER } from '../monitoring/monitor.js';
import { liftColumns } from '../normalize/columns.js';
import type { OcsfEvent } from '../normalize/types.js';
import type { Format } from '../parsing/types.js';
import { RETENTION_CHAIN, RETENTION_KEY, type BoundaryJson, type RetentionBoundary, type RetentionDetails } from './boundaries.js';
import { ChainIntegrityError } from '../errors.js';

export * from './boundaries.js';

/** The retention chain's own boundary in a record's boundaries. */
export function ownBoundary(b: Record<string, BoundaryJson>): RetentionBoundary | undefined {
  const own = b[RETENTION_CHAIN];
  return own && { firstSeq: own.first_seq, prevHash: Buffer.from(own.prev_hash, 'hex'), frontier: { size: own.frontier.size, frontier: own.frontier.hashes.map((h) => Buffer.from(h, 'hex')) } };
}

/** The OCSF event of a retention record. Deterministic for given details and time. */
export function retentionEvent(details: RetentionDetails, timeMs: number): OcsfEvent {
  const archive = details.action === 'archive';
  const chains = details.removed.map((r) => `${r.chain} ${r.first_seq}..${r.last_seq}`).join(', ');
  const message = archive
    ? `partition ${details.partition.name} (${details.rows} rows${chains ? `: ${chains}` : ''}) archived to ${details.archive.path} (sha256 ${details.archive.sha256}) and dropped`
    : `archive ${details.archive.path} of partition ${details.partition.name} (${details.rows} rows) deleted: its retention period has passed`;
  return {
    class_uid: 1008,
    class_name: 'Event Log Activity',
    category_uid: 1,
    category_name: 'System Activity',
    activity_id: archive ? 4 : 2,
    activity_name: archive ? 'Archive' : 'Delete',
    type_uid: archive ? 100804 : 100802,
    type_name: `Event Log Activity: ${archive ? 'Archive' : 'Delete'}`,
    severity_id: 1,
    severity: 'Informational',
    status_id: 1,
    status: 'Success',
    time: timeMs,
    message,
    device: { hostname: hostname() },
    file: { name: details.archive.path, size: details.archive.bytes, hashes: [{ algorithm_id: 3, algorithm: 'SHA-256', value: details.archive.sha256 }] },
    metadata: { version: '1.3.0', product: { name: 'syslog-ledger', vendor_name: 'syslog-ledger' }, log_provider: 'syslog-ledger' },
    unmapped: { [RETENTION_KEY]: details },
  };
}

/** The ledger record of a retention event: format `internal`, the server's own identity. */
export function retentionRecord(details: RetentionDetails, nowUs: number): LedgerRecord {
  const event = retentionEvent(details, Math.floor(nowUs / 1000));
  const syslog = {
    facility: null,
    severity: null,
    timestamp: null,
    hostname: hostname(),
    app_name: 'syslog-ledger',
    procid: null,
    msgid: `retention.${details.action}`,
    structured_data: null,
    message: String(event.message),
  };
  return {
    receivedAtUs: nowUs,
    peer: SERVER_PEER,
    raw: Buffer.from(JSON.stringify(event)),
    truncated: false,
    format: 'internal',
    parseError: null,
    syslog,
    event,
    columns: liftColumns(event, { format: 'internal' as Format, syslog, parse_error: null, parse_error_reason: null }),
  };
}

/** The same advisory lock key as the ledger writer's, so no writer and no archive share a chain. */
export async function lockRetentionChain(client: pg.Client): Promise<boolean> {
  const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [`syslog-ledger:chain:${RETENTION_CHAIN}`]);
  return r.rows[0]?.ok === true;
}

/**
 * Appends one record to RETENTION_CHAIN inside the caller's transaction (the caller holds the
 * chain's advisory lock): locks the chain row, chains on its head, COPYs the row, moves the head.
 */
export async function appendRetentionRecord(client: pg.Client, record: LedgerRecord): Promise<ChainedRecord> {
  await client.query('INSERT INTO chains (chain) VALUES ($1) ON CONFLICT (chain) DO NOTHING', [RETENTION_CHAIN]);
  const head = (await client.query<{ head_seq: string; head_hash: Buffer }>('SELECT head_seq, head_hash FROM chains WHERE chain = $1 FOR UPDATE', [RETENTION_CHAIN])).rows[0]!;
  const seq = Number(head.head_seq) + 1;
  const { row, syslogJson, eventJson } = chainRecord(record, RETENTION_CHAIN, seq, head.head_hash);
  const hash = row.hash;
  await pipeline(Readable.from([copyLine(row, syslogJson, eventJson)]), client.query(copyStreams.from(COPY_SQL)));
  await client.query('UPDATE chains SET head_seq = $2, head_hash = $3, updated_at = now() WHERE chain = $1', [RETENTION_CHAIN, seq, hash]);
  return row;
}

/**
 * Signs a checkpoint of RETENTION_CHAIN's head, inside the caller's transaction (the one that
 * appended the record), so that a record is never committed without its signature: rebuilds the
 * chain's Merkle tree from its boundary frontier (its own oldest records may be archived) plus its
 * remaining rows, and inserts the checkpoint with the completed nodes. The caller appends it to the
 * checkpoint file after the commit (appendCheckpoint); catchUpCheckpointFile() repairs a crash between.
 */
export async function signRetentionHead(
  db: Queryable,
  opts: { key: SigningKey; boundary: RetentionBoundary | undefined; now?: () => number },
): Promise<Checkpoint> {
  const head = (await db.query<{ head_seq: string; head_hash: Buffer }>('SELECT head_seq, head_hash FROM chains WHERE chain = $1', [RETENTION_CHAIN])).rows[0];
  const headSeq = Number(head?.head_seq ?? 0);
  const nodes: PendingNode[] = [];
  const acc = new MerkleAccumulator({ onNode: (l, i, h) => nodes.push([l, i, h]), onNodeMinLevel: STORED_MIN_LEVEL });
  const from = opts.boundary?.firstSeq ?? 1;
  if (opts.boundary) acc.restore(opts.boundary.frontier);
  const hashes = await readRowHashes(db, RETENTION_CHAIN, from - 1, headSeq);
  for (const h of hashes) acc.append(h);
  const last = hashes[hashes.length - 1] ?? opts.boundary?.prevHash ?? ZERO_HASH;
  if (headSeq === 0 || !last.equals(head!.head_hash)) throw new ChainIntegrityError(RETENTION_CHAIN, `chain ${RETENTION_CHAIN}: the head hash differs from row ${headSeq}; run syslog-ledger verify`);
  const ledgerId = (await db.query<{ id: string }>('SELECT ledger_id::text AS id FROM ledger_meta')).rows[0]!.id;
  const cp = signCheckpoint(
    {
      ledger_id: ledgerId,
      chain: RETENTION_CHAIN,
      seq: headSeq,
      tree_size: headSeq,
      head_hash: last.toString('hex'),
      merkle_root: acc.root().toString('hex'),
      time: new Date((opts.now ?? Date.now)()).toISOString(),
    },
    opts.key,
  );
  await insertNodes(db, RETENTION_CHAIN, nodes);
  await db.query(
    `INSERT INTO checkpoints (chain, seq, tree_size, head_hash, merkle_root, signed_at, key_id, record)
     VALUES ($1, $2, $2, $3, $4, $5, $6, $7)`,
    [cp.chain, cp.seq, Buffer.from(cp.head_hash, 'hex'), Buffer.from(cp.merkle_root, 'hex'), cp.time, cp.key_id, JSON.stringify(cp)],
  );
  return cp;
}

/** Appends a checkpoint to the external checkpoint file (fsynced). */
export async function appendCheckpoint(path: string, cp: Checkpoint): Promise<void> {
  const file = await CheckpointFile.open(path);
  try {
    await file.append(cp);
  } finally {
    await file.close();
  }
}

/**
 * After a crash between commit and file append: the latest retention checkpoint in the database,
 * when validly signed by `keys` and missing from the file, is appended to it. Returns the seq of the
 * latest signed retention checkpoint (0 when none).
 */
export async function catchUpCheckpointFile(db: Queryable, path: string, keys: readonly VerifyingKey[]): Promise<number> {
  const res = await db.query<{ record: unknown }>('SELECT record FROM checkpoints WHERE chain = $1 ORDER BY seq DESC LIMIT 1', [RETENTION_CHAIN]);
  if (res.rows[0] === undefined) return 0;
  const cp = parseCheckpoint(res.rows[0].record);
  if (verifyCheckpointSignature(cp, keyMap(keys)) !== 'valid') throw new ChainIntegrityError(RETENTION_CHAIN, `the latest checkpoint of ${RETENTION_CHAIN} in the database is not validly signed by the given keys`);
  const tail = await readTailCheckpoints(path);
  if ((tail.latest.get(RETENTION_CHAIN)?.seq ?? 0) < cp.seq) await appendCheckpoint(path, cp);
  return cp.seq;
}
