/**
 * `syslog-ledger prove`: Merkle proofs against signed checkpoints (docs/integrity.md, "Proofs").
 *
 *   prove [--chain C] --seq N [--tree-size T]   inclusion proof of event N (default: against the latest checkpoint)
 *   prove [--chain C] --consistency A B         consistency proof between the checkpoints at tree sizes A and B ("latest" allowed)
 *
 * Without --chain: the ledger's only chain of received events, or, when it has several, the one
 * named after this host (what `serve` writes by default); otherwise an error that lists the chains.
 * The chains syslog-ledger writes of its own (access records, retention records) are not candidates.
 *
 * The proof is printed as JSON (or written to --out) and checked before it is printed: exit 0 when it
 * verifies against the checkpoint's root, 1 when it does not (the ledger or the stored Merkle nodes
 * were changed after the checkpoint was signed: run `syslog-ledger verify`), 2 when no proof could be made.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import pg from 'pg';
import { bool, helpText, parseOptions, requireStr, str, type OptionSpecs } from '../config.js';
import { resolveDatabase } from '../db/resolve.js';
import { parseCheckpoint, type Checkpoint } from '../checkpoints/checkpoint.js';
import { ACCESS_CHAIN, proveAccessEvent, recordAccess } from '../evidence/access.js';
import { RETENTION_CHAIN } from '../retention/boundaries.js';
import { DbNodeSource } from '../checkpoints/merkle-store.js';
import { loadOrCreateSigningKey } from '../checkpoints/signing.js';
import { DEFAULT_CHECKPOINT_FILE } from '../verify/checkpoints.js';
import { consistencyProof, inclusionProof, leafHash, verifyConsistency, verifyInclusion } from '../checkpoints/merkle.js';
import { readChain, recomputeHash } from '../verify/verify.js';
import type { V3Document } from '../ledger/row.js';
import { v3ToJson } from '../ledger/v3.js';
import { sql } from 'kysely';
import { db, run, type RowFieldsJson } from '../ledger/db.js';
import type { LiftedColumns } from '../normalize/types.js';
import { DB_OPTIONS } from './migrate.js';
import { READ_DB_OPTIONS, waitForReplay } from '../db/replica.js';
import { ProveFailure } from '../errors.js';

export const PROVE_OPTIONS = {
  ...DB_OPTIONS,
  ...READ_DB_OPTIONS,
  chain: { type: 'string', arg: 'NAME', help: "the chain (default: the ledger's only chain, else this host's, as serve names it)" },
  seq: { type: 'string', arg: 'N', help: 'inclusion proof for the event with this seq' },
  'tree-size': { type: 'string', arg: 'T', help: 'prove against the checkpoint at this tree size (default: the latest)' },
  consistency: { type: 'boolean', help: 'consistency proof between the checkpoints at tree sizes A and B (positional; B may be "latest")' },
  out: { type: 'string', arg: 'FILE', help: 'write the proof here instead of stdout' },
  'signing-key': { type: 'string', default: './certs/ledger-signing.key', arg: 'FILE', help: "the ledger's key (serve --signing-key): signs the access record this read leaves in the ledger" },
  'checkpoint-file': { type: 'string', default: DEFAULT_CHECKPOINT_FILE, arg: 'FILE', help: "signed chain heads file (serve --checkpoint-file): the access record's checkpoint is appended" },
} as const satisfies OptionSpecs;

/** An inclusion proof, as printed (docs/integrity.md). */
export interface InclusionProofDoc {
  type: 'syslog-ledger/inclusion-proof';
  v: 1;
  ledger_id: string;
  chain: string;
  seq: number;
  leaf_index: number;
  tree_size: number;
  /** The row's `hash` (the Merkle leaf input) and its `prev_hash`, hex. */
  row_hash: string;
  prev_hash: string;
  /** SHA-256(0x00 || row_hash), hex. */
  leaf_hash: string;
  /** Audit path, leaf to root, hex (RFC 9162 §2.1.3.1). */
  proof: string[];
  checkpoint: Checkpoint;
  /** The event's canonical fields (docs/ledger-format.md): with prev_hash they hash to row_hash. */
  event: ProofEvent;
}

/** The proved row: its fields (RowFieldsJson, from the ledger's Database) and what its version hashes. */
export type ProofEvent = RowFieldsJson & {
  syslog: unknown;
  event: unknown;
  /**
   * The lifted filter columns as stored (event_time as UTC text with six digits, src_ip as
   * abbrev(src_ip)), for a row in canonical form version 2, whose hash covers them; absent for version 1.
   */
  columns?: LiftedColumns;
  /** A row in canonical form version 3: its stored columns (v3ToJson) and its connection. */
  v3?: V3Document;
};

/** A consistency proof between two checkpoints of one chain. */
export interface ConsistencyProofDoc {
  type: 'syslog-ledger/consistency-proof';
  v: 1;
  ledger_id: string;
  chain: string;
  first: Checkpoint;
  second: Checkpoint;
  /** RFC 9162 §2.1.4.1 PROOF(first.tree_size, D[second.tree_size]), hex. */
  proof: string[];
}

export interface ProveDeps {
  /** Resolved by the dispatcher; otherwise --database-url / DATABASE_URL / the embedded database. */
  readonly databaseUrl?: string;
  readonly stdout?: (text: string) => void;
  readonly stderr?: (text: string) => void;
}

export async function proveCommand(argv: string[], deps: ProveDeps = {}): Promise<number> {
  const out = deps.stdout ?? ((t: string) => void process.stdout.write(t));
  const err = deps.stderr ?? ((t: string) => void process.stderr.write(t));
  const { values, positionals } = parseOptions(argv, PROVE_OPTIONS, { positionals: true });
  if (values.help) {
    out(`${helpText('syslog-ledger prove [--chain C] (--seq N [--tree-size T] | --consistency A B) [options]', 'Print a Merkle inclusion or consistency proof against signed checkpoints; check it offline with `syslog-ledger verify-proof`.', PROVE_OPTIONS)}\n`);
    return 0;
  }
  const chainOpt = str(values, 'chain');
  const consistency = bool(values, 'consistency');
  const seqRaw = str(values, 'seq');
  if (consistency === (seqRaw !== undefined)) {
    err('syslog-ledger prove: give either --seq N or --consistency A B\n');
    return 2;
  }
  if (consistency && positionals.length !== 2) {
    err('syslog-ledger prove: --consistency takes two tree sizes, A and B\n');
    return 2;
  }
  if (!consistency && positionals.length > 0) {
    err(`syslog-ledger prove: unexpected argument "${positionals[0]}"\n`);
    return 2;
  }
  const db =
    deps.databaseUrl !== undefined
      ? { url: deps.databaseUrl, release: async () => {} }
      : await resolveDatabase({ databaseUrl: str(values, 'database-url'), dataDir: resolve(requireStr(values, 'data-dir')) });
  // Reads on a replica when given (--read-database-url), once it has replayed what the primary had;
  // the access record goes to the primary.
  const readUrl = str(values, 'read-database-url') ?? db.url;
  const client = new pg.Client({ connectionString: readUrl, application_name: 'syslog-ledger prove' });
  try {
    if (readUrl !== db.url) await waitForReplay(db.url, readUrl);
    await client.connect();
    const chain = chainOpt ?? (await defaultChain(client));
    const treeSizeRaw = str(values, 'tree-size');
    const result = consistency
      ? await makeConsistency(client, chain, positionals[0] as string, positionals[1] as string)
      : await makeInclusion(client, chain, positiveInt(seqRaw as string, '--seq'), treeSizeRaw === undefined ? 'latest' : treeSizeRaw);
    const text = `${JSON.stringify(result.doc, null, 2)}\n`;
    // The read is recorded before anything is shown (src/evidence/access.ts); no record, no proof.
    const keyPath = resolve(requireStr(values, 'signing-key'));
    if (!existsSync(keyPath)) throw new ProveFailure(`${keyPath} not found: prove records each read in the ledger, signed with serve's --signing-key`);
    const c = consistency ? (result.doc as ConsistencyProofDoc) : undefined;
    const pos: [number, number] | undefined = c && [c.first.tree_size, c.second.tree_size];
    await recordAccess(db.url, {
      key: await loadOrCreateSigningKey(keyPath),
      checkpointFile: resolve(requireStr(values, 'checkpoint-file')),
      event: proveAccessEvent({ chain, ...(consistency ? { consistency: pos } : { seq: Number(seqRaw) }), proofSha256: createHash('sha256').update(text).digest('hex'), valid: result.ok }),
    });
    const file = str(values, 'out');
    if (file !== undefined) await writeFile(file, text);
    else out(text);
    if (!result.ok) {
      err(`syslog-ledger prove: the proof does NOT verify against the signed checkpoint at tree size ${result.treeSize}: ` +
        'the ledger or its stored Merkle nodes changed after it was signed. Run `syslog-ledger verify`.\n');
      return 1;
    }
    return 0;
  } catch (e) {
    if (e instanceof ProveFailure) {
      err(`syslog-ledger prove: ${e.message}\n`);
      return 2;
    }
    throw e;
  } finally {
    await client.end().catch(() => {});
    await db.release();
  }
}

function positiveInt(raw: string, name: string): number {
  if (!/^[1-9][0-9]*$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw new ProveFailure(`${name} expects a positive whole number, got "${raw}"`);
  return Number(raw);
}

/** The chain to prove in when --chain is not given: the only one, or this host's (serve's default). */
export async function defaultChain(client: pg.ClientBase | pg.Pool, host = hostname()): Promise<string> {
  const own = new Set([ACCESS_CHAIN, RETENTION_CHAIN]);
  const chains = (await run(client, db.selectFrom('chains').select('chain').orderBy('chain'))).map((r) => r.chain).filter((c) => !own.has(c));
  if (chains.length === 1) return chains[0]!;
  if (chains.includes(host)) return host;
  if (chains.length === 0) throw new ProveFailure('this ledger has no chain yet: no event has been stored');
  throw new ProveFailure(
    `this ledger has ${chains.length} chains and none is named after this host (${host}): choose one with --chain NAME\n` +
      chains.map((c) => `  ${c}\n`).join('').replace(/\n$/, ''),
  );
}

async function ledgerId(client: pg.Client): Promise<string> {
  const [r] = await run(client, db.selectFrom('ledger_meta').select(sql<string>`ledger_id::text`.as('id')));
  const id = r?.id;
  if (id === undefined) throw new ProveFailure('ledger_meta is empty: is this a syslog-ledger database?');
  return id;
}

/** The checkpoint at `size` (a tree size, or "latest") from the checkpoints table. */
async function checkpointAt(client: pg.Client, chain: string, size: string): Promise<Checkpoint> {
  const q = db.selectFrom('checkpoints').select('record').where('chain', '=', chain);
  const [row] = await run(client, size === 'latest' ? q.orderBy('seq', 'desc').limit(1) : q.where('seq', '=', positiveInt(size, 'tree size')));
  if (row === undefined) {
    throw new ProveFailure(size === 'latest' ? `chain "${chain}" has no checkpoint yet` : `chain "${chain}" has no checkpoint at tree size ${size}`);
  }
  return parseCheckpoint(row.record);
}

export async function makeInclusion(
  client: pg.Client,
  chain: string,
  seq: number,
  size: string,
): Promise<{ doc: InclusionProofDoc; ok: boolean; treeSize: number }> {
  const id = await ledgerId(client);
  const cp = await checkpointAt(client, chain, size);
  if (cp.tree_size < seq) {
    throw new ProveFailure(`event ${seq} of chain "${chain}" is not covered by a checkpoint yet (the ${size === 'latest' ? 'latest' : 'chosen'} one is at seq ${cp.seq}); checkpoints follow within a second`);
  }
  let event: ProofEvent | undefined;
  let rowHash: Buffer | undefined;
  let prevHash: Buffer | undefined;
  for await (const batch of readChain(client, chain, seq, 1)) {
    const r = batch[0];
    if (r !== undefined && r.seq === seq) {
      rowHash = r.hash;
      prevHash = r.prevHash;
      event = {
        chain: r.chain,
        seq: r.seq,
        received_at_us: r.receivedAtUs,
        peer_cn: r.peerCn,
        peer_sans: r.peerSans,
        peer_addr: r.peerAddr,
        format: r.format,
        truncated: r.truncated,
        parse_error: r.parseError,
        raw_base64: r.raw.toString('base64'),
        syslog: JSON.parse(r.syslogText) as unknown,
        event: JSON.parse(r.eventText) as unknown,
      };
      if (r.v3 !== undefined) {
        // Version 3: the row's stored values and its connection are what is hashed; `event` (the
        // assembled OCSF record) and peer_* (the connection's) are shown, and verify-proof checks
        // that they are what these values give.
        event.v3 = { row: v3ToJson(r.v3.values), connection: r.v3.conn };
      } else if (recomputeHash(r.prevHash, r).version === 2) event.columns = r.lifted;
    }
    break;
  }
  if (event === undefined || rowHash === undefined || prevHash === undefined) throw new ProveFailure(`chain "${chain}" has no row with seq ${seq}`);
  const proof = await inclusionProof(new DbNodeSource(client, chain, cp.tree_size), seq - 1, cp.tree_size);
  const leaf = leafHash(rowHash);
  const doc: InclusionProofDoc = {
    type: 'syslog-ledger/inclusion-proof',
    v: 1,
    ledger_id: id,
    chain,
    seq,
    leaf_index: seq - 1,
    tree_size: cp.tree_size,
    row_hash: rowHash.toString('hex'),
    prev_hash: prevHash.toString('hex'),
    leaf_hash: leaf.toString('hex'),
    proof: proof.map((p) => p.toString('hex')),
    checkpoint: cp,
    event,
  };
  const ok = verifyInclusion(seq - 1, cp.tree_size, leaf, proof, Buffer.from(cp.merkle_root, 'hex'));
  return { doc, ok, treeSize: cp.tree_size };
}

async function makeConsistency(
  client: pg.Client,
  chain: string,
  a: string,
  b: string,
): Promise<{ doc: ConsistencyProofDoc; ok: boolean; treeSize: number }> {
  const id = await ledgerId(client);
  const first = await checkpointAt(client, chain, a);
  const second = await checkpointAt(client, chain, b);
  if (first.tree_size > second.tree_size) throw new ProveFailure(`tree size A (${first.tree_size}) must not exceed B (${second.tree_size})`);
  const proof = await consistencyProof(new DbNodeSource(client, chain, second.tree_size), first.tree_size, second.tree_size);
  const doc: ConsistencyProofDoc = {
    type: 'syslog-ledger/consistency-proof',
    v: 1,
    ledger_id: id,
    chain,
    first,
    second,
    proof: proof.map((p) => p.toString('hex')),
  };
  const ok = verifyConsistency(
    first.tree_size,
    second.tree_size,
    Buffer.from(first.merkle_root, 'hex'),
    Buffer.from(second.merkle_root, 'hex'),
    proof,
  );
  return { doc, ok, treeSize: second.tree_size };
}
