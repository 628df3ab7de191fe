/**
 * Signed checkpoints: a chain head and its Merkle root, signed with Ed25519, kept in the database
 * and appended to a JSON-lines file outside it (the external anchor). Format: docs/integrity.md,
 * "Checkpoint format". The signed bytes are the text produced by checkpointSignedBytes(), never the
 * JSON line, so that any JSON library can read the file and the signature still has one meaning.
 */
import { sign as edSign, verify as edVerify } from 'node:crypto';
import { CheckpointFormatError, VerifyError } from '../errors.js';
import type { SigningKey, VerifyingKey } from './signing.js';

export const CHECKPOINT_VERSION = 1;
/** First line of the signed text: domain separation from any other use of the key. */
export const CHECKPOINT_SIGNED_HEADER = 'syslog-ledger checkpoint v1';

/** One signed checkpoint, as a line of the checkpoint file (members in this order). */
export interface Checkpoint {
  readonly v: 1;
  /** ledger_meta.ledger_id, lowercase UUID text. */
  readonly ledger_id: string;
  readonly chain: string;
  /** Seq of the last row covered. */
  readonly seq: number;
  /** Always equal to seq: the Merkle tree has one leaf per row, leaf i = row seq i + 1. */
  readonly tree_size: number;
  /** `hash` of row `seq`, lowercase hex. */
  readonly head_hash: string;
  /** RFC 9162 Merkle Tree Hash over the row hashes of seq 1..seq, lowercase hex. */
  readonly merkle_root: string;
  /** Signing time, RFC 3339 UTC ("Z"), as written by Date.prototype.toISOString. */
  readonly time: string;
  /** Key id of the signing key (src/checkpoints/signing.ts). */
  readonly key_id: string;
  /** Standard base64 (with padding) of the 64-byte Ed25519 signature over checkpointSignedBytes(). */
  readonly sig: string;
}

export type UnsignedCheckpoint = Omit<Checkpoint, 'sig' | 'key_id' | 'v'>;

/** What a checkpoint check can find; every finding names a chain and, where known, a seq. */
export const INTEGRITY_FINDING_KINDS = [
  /** A line that is not a valid v1 checkpoint. */
  'checkpoint_malformed',
  /** A checkpoint of another ledger inside this ledger's file. */
  'checkpoint_foreign_ledger',
  /** Signed by a key not given to the verifier. */
  'checkpoint_unknown_key',
  /** The signature does not verify. */
  'checkpoint_bad_signature',
  /** A chain's checkpoint with a lower seq than an earlier line. */
  'checkpoint_backwards',
  /** Two validly signed checkpoints of one chain and seq with different hashes. */
  'checkpoint_fork',
  /** The ledger row at the checkpoint's seq has another hash. */
  'checkpoint_head_mismatch',
  /** The Merkle root recomputed from the ledger differs from the signed one. */
  'checkpoint_root_mismatch',
  /** Rows the checkpoints vouch for are not in the ledger (deleted tail or chain). */
  'truncated',
] as const;
export type IntegrityFindingKind = (typeof INTEGRITY_FINDING_KINDS)[number];

/** A problem found; `seq` is null when the finding is about a file line with no usable seq. */
export interface IntegrityFinding {
  readonly chain: string;
  readonly seq: number | null;
  readonly kind: IntegrityFindingKind;
  readonly detail: string;
}

/** The checkpoint file is another ledger's: refused as a whole, not read (verify exits 2). */
export class ForeignCheckpointFileError extends VerifyError {
  constructor(
    readonly file: string,
    readonly fileLedgerId: string,
    readonly ledgerId: string,
  ) {
    super(`${file} holds checkpoints of ledger ${fileLedgerId}, not of this ledger (${ledgerId}); refusing to read it`);
  }
}

const HEX64 = /^[0-9a-f]{64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const KEY_ID = /^[0-9a-f]{32}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const BASE64_SIG = /^[A-Za-z0-9+/]{86}==$/;
const MEMBERS = ['v', 'ledger_id', 'chain', 'seq', 'tree_size', 'head_hash', 'merkle_root', 'time', 'key_id', 'sig'] as const;


/**
 * The exact bytes that are signed: UTF-8 text, nine lines, each ending in LF (0x0A):
 *
 *   syslog-ledger checkpoint v1
 *   ledger_id <uuid>
 *   chain <chain>
 *   seq <decimal>
 *   tree_size <decimal>
 *   head_hash <64 lowercase hex>
 *   merkle_root <64 lowercase hex>
 *   time <RFC 3339>
 *   key_id <32 lowercase hex>
 *
 * Decimals have no sign, leading zeros or exponent. Chain names contain no control characters.
 */
export function checkpointSignedBytes(c: Omit<Checkpoint, 'sig' | 'v'>): Buffer {
  checkFields(c);
  return Buffer.from(
    `${CHECKPOINT_SIGNED_HEADER}\n` +
      `ledger_id ${c.ledger_id}\n` +
      `chain ${c.chain}\n` +
      `seq ${c.seq}\n` +
      `tree_size ${c.tree_size}\n` +
      `head_hash ${c.head_hash}\n` +
      `merkle_root ${c.merkle_root}\n` +
      `time ${c.time}\n` +
      `key_id ${c.key_id}\n`,
    'utf8',
  );
}

function checkFields(c: Omit<Checkpoint, 'sig' | 'v'>): void {
  const chain = typeof c.chain === 'string' ? c.chain : null;
  const seq = Number.isSafeInteger(c.seq) ? c.seq : null;
  const fail = (m: string): never => {
    throw new CheckpointFormatError(m, chain, seq);
  };
  if (typeof c.ledger_id !== 'string' || !UUID.test(c.ledger_id)) fail('ledger_id is not a lowercase UUID');
  if (chain === null || chain.length === 0 || CONTROL.test(chain)) fail('chain is empty or has control characters');
  if (seq === null || seq < 1) fail('seq is not a positive integer');
  if (c.tree_size !== c.seq) fail(`tree_size ${String(c.tree_size)} differs from seq ${String(c.seq)}`);
  if (typeof c.head_hash !== 'string' || !HEX64.test(c.head_hash)) fail('head_hash is not 64 lowercase hex digits');
  if (typeof c.merkle_root !== 'string' || !HEX64.test(c.merkle_root)) fail('merkle_root is not 64 lowercase hex digits');
  if (typeof c.time !== 'string' || !RFC3339_UTC.test(c.time) || Number.isNaN(Date.parse(c.time))) fail('time is not RFC 3339 UTC');
  if (typeof c.key_id !== 'string' || !KEY_ID.test(c.key_id)) fail('key_id is not 32 lowercase hex digits');
}

/** Signs a checkpoint. */
export function signCheckpoint(body: UnsignedCheckpoint, key: SigningKey): Checkpoint {
  const unsigned = { ...body, key_id: key.keyId };
  const sig = edSign(null, checkpointSignedBytes(unsigned), key.privateKey).toString('base64');
  return {
    v: 1,
    ledger_id: body.ledger_id,
    chain: body.chain,
    seq: body.seq,
    tree_size: body.tree_size,
    head_hash: body.head_hash,
    merkle_root: body.merkle_root,
    time: body.time,
    key_id: key.keyId,
    sig,
  };
}

export type SignatureCheck = 'valid' | 'unknown_key' | 'bad_signature';

/** Checks a checkpoint's signature against the known keys (by key id). */
export function verifyCheckpointSignature(c: Checkpoint, keys: ReadonlyMap<string, VerifyingKey>): SignatureCheck {
  const key = keys.get(c.key_id);
  if (key === undefined) return 'unknown_key';
  if (!BASE64_SIG.test(c.sig)) return 'bad_signature';
  try {
    return edVerify(null, checkpointSignedBytes(c), key.publicKey, Buffer.from(c.sig, 'base64')) ? 'valid' : 'bad_signature';
  } catch {
    return 'bad_signature';
  }
}

/** Indexes keys by id. */
export function keyMap(keys: readonly VerifyingKey[]): Map<string, VerifyingKey> {
  return new Map(keys.map((k) => [k.keyId, k]));
}

/** The JSON line (without LF): members in the documented order. */
export function serializeCheckpoint(c: Checkpoint): string {
  return JSON.stringify({
    v: c.v,
    ledger_id: c.ledger_id,
    chain: c.chain,
    seq: c.seq,
    tree_size: c.tree_size,
    head_hash: c.head_hash,
    merkle_root: c.merkle_root,
    time: c.time,
    key_id: c.key_id,
    sig: c.sig,
  });
}

/** Parses and shape-checks one checkpoint (JSON text or a parsed value). Signature not checked. */
export function parseCheckpoint(input: string | unknown): Checkpoint {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      throw new CheckpointFormatError('not JSON');
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CheckpointFormatError('not a JSON object');
  const o = value as Record<string, unknown>;
  const chain = typeof o.chain === 'string' ? o.chain : null;
  const seq = typeof o.seq === 'number' && Number.isSafeInteger(o.seq) ? o.seq : null;
  if (o.v !== CHECKPOINT_VERSION) throw new CheckpointFormatError(`unsupported version ${JSON.stringify(o.v)}`, chain, seq);
  const extra = Object.keys(o).filter((k) => !(MEMBERS as readonly string[]).includes(k));
  if (extra.length > 0) throw new CheckpointFormatError(`unknown members: ${extra.join(', ')}`, chain, seq);
  if (typeof o.sig !== 'string') throw new CheckpointFormatError('sig is missing', chain, seq);
  const c = o as unknown as Checkpoint;
  checkFields(c);
  return {
    v: 1,
    ledger_id: c.ledger_id,
    chain: c.chain,
    seq: c.seq,
    tree_size: c.tree_size,
    head_hash: c.head_hash,
    merkle_root: c.merkle_root,
    time: c.time,
    key_id: c.key_id,
    sig: c.sig,
  };
}
