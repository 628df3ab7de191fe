/**
 * `syslog-ledger verify-proof [--public-key F]... PROOF.json`: checks a proof from `prove` offline,
 * with only the public key: no database. Exit 0 valid, 1 invalid, 2 could not read the proof or key.
 *
 * Inclusion: the event's canonical fields hash (with prev_hash) to row_hash (docs/ledger-format.md),
 * leaf_hash = SHA-256(0x00 || row_hash), the audit path leads to the checkpoint's Merkle root
 * (RFC 9162 §2.1.3.2), and the checkpoint is signed by a given key. Consistency: both checkpoints
 * signed, same ledger and chain, and the path proves the first tree a prefix of the second (§2.1.4.2).
 */
import { readFile } from 'node:fs/promises';
import { helpText, list, parseOptions, str, type OptionSpecs } from '../config.js';
import { canonicalJson, canonicalLifted, chainHash, type CanonicalLifted } from '../ledger/canonical.js';
import type { Connection, V3Json, V3Values } from '../ledger/row.js';
import { v3EventOf, v3FromJson, v3Hash } from '../ledger/v3.js';
import type { LiftedColumns } from '../normalize/types.js';
import { keyMap, parseCheckpoint, verifyCheckpointSignature, type Checkpoint } from '../checkpoints/checkpoint.js';
import { leafHash, verifyConsistency, verifyInclusion } from '../checkpoints/merkle.js';
import { loadPublicKey, type VerifyingKey } from '../checkpoints/signing.js';
import { DEFAULT_PUBLIC_KEY_FILE } from '../verify/checkpoints.js';

export const VERIFY_PROOF_OPTIONS = {
  'public-key': { type: 'string', multiple: true, default: DEFAULT_PUBLIC_KEY_FILE, arg: 'FILE', help: 'Ed25519 public key (SPKI PEM) that signs checkpoints' },
  'ledger-id': { type: 'string', arg: 'UUID', help: 'also require the proof to be about this ledger' },
  json: { type: 'boolean', help: 'print the result as one JSON line' },
} as const satisfies OptionSpecs;

export interface VerifyProofDeps {
  readonly stdout?: (text: string) => void;
  readonly stderr?: (text: string) => void;
  /** Reads the proof; default: the file named (or stdin for "-"). */
  readonly readProof?: (name: string) => Promise<string>;
}

/** The outcome of checking one proof document. */
export interface ProofCheck {
  readonly valid: boolean;
  readonly reason: string;
}

export async function verifyProofCommand(argv: string[], deps: VerifyProofDeps = {}): Promise<number> {
  const out = deps.stdout ?? ((t: string) => void process.stdout.write(t));
  const err = deps.stderr ?? ((t: string) => void process.stderr.write(t));
  const { values, positionals } = parseOptions(argv, VERIFY_PROOF_OPTIONS, { positionals: true });
  if (values.help) {
    out(`${helpText('syslog-ledger verify-proof [options] PROOF.json', 'Check a proof printed by `syslog-ledger prove`, offline. Exit 0 valid, 1 invalid, 2 could not check.', VERIFY_PROOF_OPTIONS)}\n`);
    return 0;
  }
  const [name, ...extra] = positionals;
  if (name === undefined || extra.length > 0) {
    err('syslog-ledger verify-proof: give exactly one proof file ("-" for stdin)\n');
    return 2;
  }
  let doc: unknown;
  let keys: VerifyingKey[];
  try {
    keys = await Promise.all(list(values, 'public-key').map((p) => loadPublicKey(p)));
    const text = deps.readProof ? await deps.readProof(name) : name === '-' ? await readStdin() : await readFile(name, 'utf8');
    doc = JSON.parse(text);
  } catch (e) {
    err(`syslog-ledger verify-proof: ${(e as Error).message}\n`);
    return 2;
  }
  const result = checkProof(doc, keys, str(values, 'ledger-id'));
  if (values.json) out(`${JSON.stringify({ valid: result.valid, reason: result.reason })}\n`);
  else out(`${result.valid ? 'valid' : 'INVALID'}: ${result.reason}\n`);
  return result.valid ? 0 : 1;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const HEX64 = /^[0-9a-f]{64}$/;

function hexList(v: unknown): Buffer[] | undefined {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && HEX64.test(x))) return undefined;
  return v.map((x: string) => Buffer.from(x, 'hex'));
}

function signed(c: unknown, keys: ReadonlyMap<string, VerifyingKey>): Checkpoint | string {
  let cp: Checkpoint;
  try {
    cp = parseCheckpoint(c);
  } catch (e) {
    return `the checkpoint is malformed: ${(e as Error).message}`;
  }
  const s = verifyCheckpointSignature(cp, keys);
  if (s === 'unknown_key') return `the checkpoint is signed by key ${cp.key_id}, which is not among the public keys given`;
  if (s === 'bad_signature') return 'the checkpoint signature does not verify';
  return cp;
}

/** Checks a parsed proof document; pure, for tests and other tools. */
export function checkProof(doc: unknown, keys: readonly VerifyingKey[], expectLedgerId?: string): ProofCheck {
  const bad = (reason: string): ProofCheck => ({ valid: false, reason });
  if (typeof doc !== 'object' || doc === null) return bad('not a proof document');
  const d = doc as Record<string, unknown>;
  if (d.v !== 1) return bad(`unsupported proof version ${JSON.stringify(d.v)}`);
  const km = keyMap(keys);
  if (expectLedgerId !== undefined && d.ledger_id !== expectLedgerId) return bad(`the proof is about ledger ${String(d.ledger_id)}, not ${expectLedgerId}`);
  if (d.type === 'syslog-ledger/inclusion-proof') return checkInclusion(d, km);
  if (d.type === 'syslog-ledger/consistency-proof') return checkConsistencyDoc(d, km);
  return bad(`unknown proof type ${JSON.stringify(d.type)}`);
}

function checkInclusion(d: Record<string, unknown>, keys: ReadonlyMap<string, VerifyingKey>): ProofCheck {
  const bad = (reason: string): ProofCheck => ({ valid: false, reason });
  const cp = signed(d.checkpoint, keys);
  if (typeof cp === 'string') return bad(cp);
  if (d.ledger_id !== cp.ledger_id || d.chain !== cp.chain) return bad('the proof names another ledger or chain than its checkpoint');
  const seq = d.seq;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return bad('seq is missing');
  if (d.leaf_index !== seq - 1 || d.tree_size !== cp.tree_size) return bad('leaf_index or tree_size disagree with seq and the checkpoint');
  if (typeof d.row_hash !== 'string' || !HEX64.test(d.row_hash) || typeof d.prev_hash !== 'string' || !HEX64.test(d.prev_hash)) {
    return bad('row_hash or prev_hash is not 64 hex digits');
  }
  const rowHash = Buffer.from(d.row_hash, 'hex');
  const leaf = leafHash(rowHash);
  if (d.leaf_hash !== leaf.toString('hex')) return bad('leaf_hash is not SHA-256(0x00 || row_hash)');
  const eventCheck = checkEvent(d.event, d.chain as string, seq, Buffer.from(d.prev_hash, 'hex'), rowHash);
  if (eventCheck !== undefined) return bad(eventCheck);
  if (seq === cp.seq && d.row_hash !== cp.head_hash) return bad('row_hash is not the checkpoint head hash');
  const proof = hexList(d.proof);
  if (proof === undefined) return bad('proof is not a list of 64-hex-digit hashes');
  if (!verifyInclusion(seq - 1, cp.tree_size, leaf, proof, Buffer.from(cp.merkle_root, 'hex'))) {
    return bad(`the audit path does not lead to the signed Merkle root of tree size ${cp.tree_size}: event ${seq} is not (or not unchanged) in chain "${cp.chain}"`);
  }
  return {
    valid: true,
    reason: `event seq ${seq} of chain "${cp.chain}" (ledger ${cp.ledger_id}) is in the tree of ${cp.tree_size} events signed at ${cp.time} by key ${cp.key_id}`,
  };
}

/** The event's canonical fields must hash, chained on prev_hash, to row_hash; returns why not. */
function checkEvent(e: unknown, chain: string, seq: number, prevHash: Buffer, rowHash: Buffer): string | undefined {
  if (typeof e !== 'object' || e === null) return 'the proof carries no event';
  const ev = e as Record<string, unknown>;
  if (ev.chain !== chain || ev.seq !== seq) return 'the event names another chain or seq';
  const strOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';
  if (
    typeof ev.received_at_us !== 'number' ||
    !strOrNull(ev.peer_cn) ||
    !Array.isArray(ev.peer_sans) ||
    !ev.peer_sans.every((s) => typeof s === 'string') ||
    typeof ev.peer_addr !== 'string' ||
    typeof ev.format !== 'string' ||
    typeof ev.truncated !== 'boolean' ||
    !strOrNull(ev.parse_error) ||
    typeof ev.raw_base64 !== 'string'
  ) {
    return 'the event is missing canonical fields';
  }
  if (ev.v3 !== undefined) return checkV3Event(ev, prevHash, rowHash);
  // Version 2 (the lifted columns given): its hash covers them too.
  let lifted: CanonicalLifted | undefined;
  if (ev.columns !== undefined) {
    const l = canonicalLifted(ev.columns as LiftedColumns);
    if (l === null) return 'the event\'s columns are not lifted columns as stored';
    lifted = l;
  }
  const hash = chainHash(prevHash, {
    chain,
    seq,
    receivedAtUs: ev.received_at_us,
    peerCn: ev.peer_cn,
    peerSans: ev.peer_sans as string[],
    peerAddr: ev.peer_addr,
    format: ev.format,
    truncated: ev.truncated,
    parseError: ev.parse_error,
    raw: Buffer.from(ev.raw_base64, 'base64'),
    syslogJson: canonicalJson(ev.syslog),
    eventJson: canonicalJson(ev.event),
    lifted,
  });
  if (!hash.equals(rowHash)) return 'the event does not hash to row_hash: it is not the event that was stored';
  return undefined;
}

/**
 * A version 3 row: its stored values and connection must hash to row_hash, and the event and
 * sender shown must be what those values give (the view's assembly, src/ledger/v3.ts).
 */
function checkV3Event(ev: Record<string, unknown>, prevHash: Buffer, rowHash: Buffer): string | undefined {
  const v3 = ev.v3 as { row?: unknown; connection?: unknown } | null;
  if (typeof v3 !== 'object' || v3 === null || typeof v3.row !== 'object' || v3.row === null) return 'the event\'s v3 row is missing';
  const conn = v3.connection as Connection | null;
  if (typeof conn !== 'object' || conn === null || !Array.isArray(conn.peer_sans)) return 'the event\'s connection is missing';
  let values: V3Values;
  try {
    values = v3FromJson(v3.row as V3Json);
    if (!v3Hash(prevHash, values, conn).equals(rowHash)) return 'the event does not hash to row_hash: it is not the event that was stored';
    if (values.chain !== ev.chain || values.seq !== ev.seq || values.received_at !== ev.received_at_us || values.format !== ev.format || values.raw.toString('base64') !== ev.raw_base64) {
      return 'the event\'s fields are not those of its v3 row';
    }
    if (conn.peer_cn !== ev.peer_cn || conn.peer_addr !== ev.peer_addr || canonicalJson(conn.peer_sans) !== canonicalJson(ev.peer_sans)) return 'the sender shown is not the row\'s connection';
    if (canonicalJson(v3EventOf(values, conn)) !== canonicalJson(ev.event)) return 'the event shown is not the one its v3 row gives';
  } catch (err) {
    return `the event's v3 row cannot be read: ${(err as Error).message}`;
  }
  return undefined;
}

function checkConsistencyDoc(d: Record<string, unknown>, keys: ReadonlyMap<string, VerifyingKey>): ProofCheck {
  const bad = (reason: string): ProofCheck => ({ valid: false, reason });
  const first = signed(d.first, keys);
  if (typeof first === 'string') return bad(`first: ${first}`);
  const second = signed(d.second, keys);
  if (typeof second === 'string') return bad(`second: ${second}`);
  if (first.ledger_id !== second.ledger_id || first.chain !== second.chain || d.ledger_id !== first.ledger_id || d.chain !== first.chain) {
    return bad('the checkpoints are of different ledgers or chains');
  }
  const proof = hexList(d.proof);
  if (proof === undefined) return bad('proof is not a list of 64-hex-digit hashes');
  if (
    !verifyConsistency(first.tree_size, second.tree_size, Buffer.from(first.merkle_root, 'hex'), Buffer.from(second.merkle_root, 'hex'), proof)
  ) {
    return bad(`the tree of ${first.tree_size} events is not a prefix of the tree of ${second.tree_size}: chain "${first.chain}" was rewritten between ${first.time} and ${second.time}`);
  }
  return {
    valid: true,
    reason: `chain "${first.chain}" (ledger ${first.ledger_id}): the ${first.tree_size} events signed at ${first.time} are unchanged in the ${second.tree_size} events signed at ${second.time}`,
  };
}
