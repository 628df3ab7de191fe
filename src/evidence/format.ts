/**
 * The evidence package format, version 1 (docs/evidence.md; VERIFY.md inside each package): file
 * names, the line of events.jsonl and how its leaf hash is recomputed, the signed manifest. Pure: no
 * database, shared by `export` (which writes it) and `verify-evidence` (which checks it offline).
 */
import { sign as edSign, verify as edVerify, createHash } from 'node:crypto';
import { canonicalJson, canonicalLifted, type CanonicalRow } from '../ledger/canonical.js';
import type { Connection, V3Json } from '../ledger/row.js';
import type { RowFieldsJson } from '../ledger/db.js';
import { v3EventOf, v3FromJson, v3Hash } from '../ledger/v3.js';
import { isoMicros } from '../ledger/copy.js';
import { rawPublicKey, type SigningKey, type VerifyingKey } from '../checkpoints/signing.js';
import type { LiftedColumns } from '../normalize/types.js';
import type { EvidenceQuery } from './query.js';

export const PACKAGE_TYPE = 'syslog-ledger/evidence';
export const PACKAGE_VERSION = 1;
/** First line of the manifest's signed bytes: domain separation from checkpoints signed with the same key. */
export const MANIFEST_SIGNED_HEADER = 'syslog-ledger evidence manifest v1';

export const FILES = {
  manifest: 'manifest.json',
  events: 'events.jsonl',
  csv: 'events.csv',
  proofs: 'proofs.jsonl',
  checkpoints: 'checkpoints.jsonl',
  consistency: 'consistency.jsonl',
  fingerprint: 'public-key.fingerprint',
  verify: 'VERIFY.md',
} as const;

/** Files whose digests the manifest lists (all but itself). */
export const DIGESTED_FILES = [FILES.events, FILES.csv, FILES.proofs, FILES.checkpoints, FILES.consistency, FILES.fingerprint, FILES.verify] as const;

/**
 * What the verifier needs, besides the event, to recompute a row's hash (docs/ledger-format.md): the
 * row's fields (RowFieldsJson, from the ledger's Database; chain and seq are the line's).
 */
export type EvidenceLeaf = Omit<RowFieldsJson, 'chain' | 'seq'> & {
  /** Canonical form version of the row: 3 (row + connection), 2 (lifted columns hashed) or 1. */
  v: 1 | 2 | 3;
  prev_hash: string;
  hash: string;
  /** The parsed syslog fields as stored. */
  syslog: unknown;
  /** Version 2 only: the lifted filter columns as stored (event_time as UTC with six digits, src_ip as abbrev()). */
  columns?: LiftedColumns;
  /** Version 3 only: the row's stored columns (src/ledger/v3.ts v3ToJson) and its connection; the rest above is shown, not hashed. */
  row?: V3Json;
  connection?: Connection | null;
};

/** One line of events.jsonl. */
export type EvidenceLine = Pick<RowFieldsJson, 'chain' | 'seq'> & {
  /** RFC 3339 UTC with microseconds: leaf.received_at_us written out. */
  received_at: string;
  /** The full OCSF record (raw_data and metadata.peer included): the stored event. */
  event: unknown;
  leaf: EvidenceLeaf;
  /** Present (false) only in a complete export, for a row inside the chain's span that the time range does not match. */
  in_range?: false;
};

/** A contiguous run of events.jsonl and its proof against a signed checkpoint (one line of proofs.jsonl). */
export interface RunProof {
  chain: string;
  first_seq: number;
  last_seq: number;
  /** Tree size of the checkpoint proved against (in checkpoints.jsonl). */
  tree_size: number;
  /** The Merkle frontier of the rows before the run (seq 1..first_seq-1): the roots of rangeNodes(0, first_seq - 1), left to right, hex. */
  left: string[];
  /** RFC 9162 consistency proof from the tree of last_seq leaves to the checkpoint's, hex. */
  consistency: string[];
}

/** One line of consistency.jsonl: a used checkpoint is a prefix of the chain's newest. */
export interface CheckpointLink {
  chain: string;
  from_tree_size: number;
  to_tree_size: number;
  proof: string[];
}

/** The canonical fields a line hashes to, or why it cannot (docs/ledger-format.md). */
export function canonicalRowOfLine(line: EvidenceLine): CanonicalRow | string {
  const l = line.leaf as EvidenceLeaf | undefined;
  if (typeof l !== 'object' || l === null) return 'no leaf';
  if (l.v === 3) return 'a version 3 leaf (hashed by v3LineHash)';
  const strOrNull = (v: unknown): boolean => v === null || typeof v === 'string';
  if (
    typeof line.chain !== 'string' || !Number.isSafeInteger(line.seq) ||
    !Number.isSafeInteger(l.received_at_us) || !strOrNull(l.peer_cn) || !Array.isArray(l.peer_sans) || !l.peer_sans.every((s) => typeof s === 'string') ||
    typeof l.peer_addr !== 'string' || typeof l.format !== 'string' || typeof l.truncated !== 'boolean' || !strOrNull(l.parse_error) ||
    typeof l.raw_base64 !== 'string' || typeof l.prev_hash !== 'string' || typeof l.hash !== 'string'
  ) {
    return 'the line lacks a canonical field';
  }
  if (line.received_at !== isoMicros(l.received_at_us)) return 'received_at is not leaf.received_at_us';
  let lifted;
  if (l.v === 2) {
    lifted = typeof l.columns === 'object' && l.columns !== null ? canonicalLifted(l.columns) : null;
    if (lifted === null) return 'leaf.columns are not lifted columns as stored';
  } else if (l.v !== 1 || l.columns !== undefined) {
    return 'leaf.v is neither 1 nor 2';
  }
  return {
    chain: line.chain,
    seq: line.seq,
    receivedAtUs: l.received_at_us,
    peerCn: l.peer_cn,
    peerSans: l.peer_sans,
    peerAddr: l.peer_addr,
    format: l.format,
    truncated: l.truncated,
    parseError: l.parse_error,
    raw: Buffer.from(l.raw_base64, 'base64'),
    syslogJson: canonicalJson(l.syslog),
    eventJson: canonicalJson(line.event),
    lifted: lifted ?? undefined,
  };
}

/**
 * The hash of a version 3 line: its row and connection chained on prev_hash; or why it has none. The
 * event, received_at and sender shown must be what the row and connection give.
 */
export function v3LineHash(line: EvidenceLine): Buffer | string {
  const l = line.leaf;
  if (typeof l.row !== 'object' || l.row === null || typeof l.connection !== 'object' || l.connection === null || !Array.isArray(l.connection.peer_sans)) return 'the line lacks its v3 row or connection';
  try {
    const v = v3FromJson(l.row);
    const c = l.connection;
    if (v.chain !== line.chain || v.seq !== line.seq || v.received_at !== l.received_at_us || line.received_at !== isoMicros(v.received_at)) return 'the line\'s chain, seq or time are not its row\'s';
    if (c.peer_cn !== l.peer_cn || c.peer_addr !== l.peer_addr || canonicalJson(c.peer_sans) !== canonicalJson(l.peer_sans)) return 'the sender shown is not the row\'s connection';
    if (canonicalJson(v3EventOf(v, c)) !== canonicalJson(line.event)) return 'the event does not hash to its leaf hash (changed: it is not the one its row gives)';
    return v3Hash(Buffer.from(l.prev_hash, 'hex'), v, c);
  } catch (err) {
    return `the line's v3 row cannot be read: ${(err as Error).message}`;
  }
}

/** A file's digest as the manifest lists it. */
export interface FileDigest {
  sha256: string;
  bytes: number;
}

/** manifest.json, without its signature. */
export interface ManifestBody {
  type: typeof PACKAGE_TYPE;
  v: typeof PACKAGE_VERSION;
  ledger_id: string;
  created_at: string;
  exported_by: { os_user: string; host: string; db_user: string; reason: string | null };
  query: EvidenceQuery & { predicate: string };
  /**
   * `complete`: no filter but time (and chain): every seq of each chain's span is in the package and
   * proven, so nothing between the first and last matching row was left out. `filtered`: the rows
   * matching the predicate, in as many runs as they fall into; the count is the ledger's count.
   */
  mode: 'complete' | 'filtered';
  counts: {
    /** Ledger rows matching the query (counted in the export's snapshot). */
    matching: number;
    /** Lines of events.jsonl (= matching, plus in a complete export the rows of the span outside the time range). */
    lines: number;
    runs: number;
    chains: Record<string, { first_seq: number; last_seq: number; lines: number; matching: number; runs: number }>;
  };
  key: { key_id: string; fingerprint_sha256: string };
  files: Record<string, FileDigest>;
}

export interface Manifest extends ManifestBody {
  signature: { alg: 'Ed25519'; key_id: string; sig: string };
}

/** The signed bytes: the header line, LF, then the manifest without `signature` as canonical JSON (RFC 8785). */
export function manifestSignedBytes(body: ManifestBody): Buffer {
  return Buffer.from(`${MANIFEST_SIGNED_HEADER}\n${canonicalJson(body)}`, 'utf8');
}

export function signManifest(body: ManifestBody, key: SigningKey): Manifest {
  const sig = edSign(null, manifestSignedBytes(body), key.privateKey).toString('base64');
  return { ...body, signature: { alg: 'Ed25519', key_id: key.keyId, sig } };
}

export function verifyManifestSignature(m: Manifest, key: VerifyingKey): boolean {
  const { signature, ...body } = m;
  try {
    return edVerify(null, manifestSignedBytes(body as ManifestBody), key.publicKey, Buffer.from(signature.sig, 'base64'));
  } catch {
    return false;
  }
}

/** SHA-256 of the raw 32-byte Ed25519 public key, hex (its first 32 digits are the key id). */
export function keyFingerprint(key: VerifyingKey): string {
  return createHash('sha256').update(rawPublicKey(key.publicKey)).digest('hex');
}

/** CSV header of events.csv (RFC 4180). */
export const CSV_COLUMNS = [
  'chain', 'seq', 'received_at', 'event_time', 'hostname', 'app_name', 'class_uid', 'activity_id', 'status_id', 'severity_id',
  'user_name', 'actor_user', 'src_ip', 'peer_cn', 'peer_addr', 'format', 'parse_error', 'in_range', 'message', 'raw',
] as const;

/** One CSV field: quoted when it holds a comma, quote, CR or LF (RFC 4180 §2). */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}
