/**
 * Retention boundaries: where `verify` starts a chain whose oldest rows were archived, as the latest
 * trusted retention record says (docs/retention.md, "Verifying across a boundary"). Lean on purpose:
 * src/verify/verify.ts imports it.
 *
 * Trust: with public keys, a record counts only when a validly signed checkpoint of RETENTION_CHAIN
 * at or after it agrees with the ledger row it names (the archive command signs one in the same
 * transaction as each record). Unsigned records are ignored: anyone who can write the database could append one. Without
 * keys (verify --no-checkpoints) the latest record counts, as the hash chains alone are all that mode
 * checks anyway.
 */
import { VerifyError } from '../errors.js';
import { keyMap, parseCheckpoint, verifyCheckpointSignature, type Checkpoint } from '../checkpoints/checkpoint.js';
import { MerkleAccumulator, type FrontierSnapshot } from '../checkpoints/merkle.js';
import type { Queryable } from '../checkpoints/merkle-store.js';
import type { VerifyingKey } from '../checkpoints/signing.js';

/** The chain of retention records (written only by `syslog-ledger archive`). Not a host name. */
export const RETENTION_CHAIN = 'syslog-ledger.retention';
/** Key of a retention record's details under `event.unmapped`. */
export const RETENTION_KEY = 'syslog_ledger_retention';

/** Where verify starts a chain whose oldest rows were archived. */
export interface RetentionBoundary {
  /** First seq still in the database. */
  readonly firstSeq: number;
  /** The `hash` of row firstSeq - 1 (the last archived one): row firstSeq's prev_hash. */
  readonly prevHash: Buffer;
  /** Merkle frontier of rows 1..firstSeq-1 (size firstSeq - 1). */
  readonly frontier: FrontierSnapshot;
}

/** A boundary as stored in a record (JSON). */
export interface BoundaryJson {
  first_seq: number;
  prev_hash: string;
  frontier: { size: number; hashes: string[] };
}

/** The details of a retention record, `event.unmapped.syslog_ledger_retention`. */
export interface RetentionDetails {
  v: 1;
  action: 'archive' | 'expire';
  partition: { name: string; from: string; to: string };
  rows: number;
  archive: { path: string; sha256: string; bytes: number; manifest_sha256: string };
  /** What left, per chain (empty for `expire`: that left the database at archive time). */
  removed: Array<{ chain: string; first_seq: number; last_seq: number; rows: number; first_hash: string; last_hash: string }>;
  /** Every chain's boundary after this action (cumulative). */
  boundaries: Record<string, BoundaryJson>;
}

export function boundaryToJson(b: RetentionBoundary): BoundaryJson {
  return { first_seq: b.firstSeq, prev_hash: b.prevHash.toString('hex'), frontier: { size: b.frontier.size, hashes: b.frontier.frontier.map((h) => h.toString('hex')) } };
}

const HEX64 = /^[0-9a-f]{64}$/;

export function boundaryFromJson(chain: string, j: unknown): RetentionBoundary {
  const b = j as Partial<BoundaryJson> | null;
  const ok =
    b !== null && typeof b === 'object' &&
    Number.isSafeInteger(b.first_seq) && (b.first_seq as number) > 1 &&
    typeof b.prev_hash === 'string' && HEX64.test(b.prev_hash) &&
    typeof b.frontier === 'object' && b.frontier !== null &&
    b.frontier.size === (b.first_seq as number) - 1 &&
    Array.isArray(b.frontier.hashes) && b.frontier.hashes.every((h) => typeof h === 'string' && HEX64.test(h));
  if (!ok) throw new VerifyError(`retention record: the boundary of chain "${chain}" is malformed`);
  const snap: FrontierSnapshot = { size: b.frontier!.size, frontier: b.frontier!.hashes.map((h) => Buffer.from(h, 'hex')) };
  new MerkleAccumulator().restore(snap); // throws when the frontier does not fit the size
  return { firstSeq: b.first_seq!, prevHash: Buffer.from(b.prev_hash!, 'hex'), frontier: snap };
}

/**
 * The latest signed checkpoint of RETENTION_CHAIN (from the `checkpoints` table, each signature
 * checked) whose head agrees with the ledger row it names; its seq, or 0.
 */
async function signedRetentionSeq(db: Queryable, keys: readonly VerifyingKey[]): Promise<number> {
  const ledgerId = (await db.query<{ id: string }>('SELECT ledger_id::text AS id FROM ledger_meta')).rows[0]?.id;
  const km = keyMap(keys);
  const res = await db.query<{ record: unknown; row_hash: Buffer | null }>(
    `SELECT c.record, (SELECT l.hash FROM ledger l WHERE l.chain = c.chain AND l.seq = c.seq LIMIT 1) AS row_hash
       FROM checkpoints c WHERE c.chain = $1 ORDER BY c.seq DESC LIMIT 20`,
    [RETENTION_CHAIN],
  );
  for (const r of res.rows) {
    let cp: Checkpoint;
    try {
      cp = parseCheckpoint(r.record);
    } catch {
      continue;
    }
    if (cp.ledger_id !== ledgerId || verifyCheckpointSignature(cp, km) !== 'valid') continue;
    if (r.row_hash !== null && r.row_hash.toString('hex') === cp.head_hash) return cp.seq;
  }
  return 0;
}

/** How retentionBoundaries() decides which records to believe. */
export interface RetentionTrust {
  /** Checkpoint keys: only records covered by a validly signed checkpoint count. Absent: the latest record counts. */
  readonly keys?: readonly VerifyingKey[];
}

/** The latest (trusted) retention record's details and seq, or undefined. */
export async function latestRetentionRecord(db: Queryable, trust: RetentionTrust = {}): Promise<{ seq: number; details: RetentionDetails } | undefined> {
  const upTo = trust.keys === undefined ? Number.MAX_SAFE_INTEGER : await signedRetentionSeq(db, trust.keys);
  if (upTo === 0) return undefined;
  const res = await db.query<{ seq: string; details: RetentionDetails }>(
    `SELECT seq, event->'unmapped'->'${RETENTION_KEY}' AS details FROM ledger
      WHERE chain = $1 AND seq <= $2 AND format = 'internal' AND event->'unmapped'->'${RETENTION_KEY}' IS NOT NULL
      ORDER BY seq DESC LIMIT 1`,
    [RETENTION_CHAIN, upTo],
  );
  const row = res.rows[0];
  return row && { seq: Number(row.seq), details: row.details };
}

/**
 * Per chain whose oldest rows were archived: where its remaining rows start, the prev_hash they
 * start from, and the Merkle frontier before them (docs/retention.md, "Verifying across a boundary").
 * Throws VerifyError when the trusted record is malformed.
 */
export async function retentionBoundaries(db: Queryable, trust: RetentionTrust = {}): Promise<Map<string, RetentionBoundary>> {
  const latest = await latestRetentionRecord(db, trust);
  const out = new Map<string, RetentionBoundary>();
  if (latest === undefined) return out;
  const b = latest.details?.boundaries;
  if (typeof b !== 'object' || b === null) throw new VerifyError(`retention record seq ${latest.seq} has no boundaries`);
  for (const [chain, j] of Object.entries(b)) out.set(chain, boundaryFromJson(chain, j));
  return out;
}

