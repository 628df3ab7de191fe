/**
 * Signed checkpoints over the set of chains (several servers, one ledger): every second (serve's
 * default), the one instance that holds the chain-set lock reads every chain head in one snapshot and signs them, so
 * that `verify` can show that no chain was dropped from the ledger and none went backwards
 * (docs/integrity.md, "Chain-set checkpoints"; ../shared/research/scale-out.md section 2).
 *
 * The heads, sorted by chain name (byte order), are the leaves of an RFC 9162 Merkle tree, leaf i =
 * UTF-8 JSON `[chain, seq, head_hash_hex]`; the signed text names the ledger, the checkpoint number,
 * the time, the number of chains and the root. The heads travel beside it, and a verifier recomputes
 * the root from them.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sign as edSign, verify as edVerify } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import { describeError } from '../errors.js';
import { MerkleAccumulator } from './merkle.js';
import type { SigningKey, VerifyingKey } from './signing.js';

export const CHAIN_SET_SIGNED_HEADER = 'syslog-ledger chain-set checkpoint v1';

export interface ChainHeadEntry {
  readonly chain: string;
  readonly seq: number;
  /** Lowercase hex. */
  readonly head_hash: string;
}

/** One signed chain-set checkpoint (a row of chain_set_checkpoints, a line of --chain-set-file). */
export interface ChainSetCheckpoint {
  readonly v: 1;
  readonly ledger_id: string;
  /** 1, 2, 3...: one more than the checkpoint before it. */
  readonly n: number;
  /** RFC 3339 UTC. */
  readonly time: string;
  readonly chains: number;
  /** Merkle root over the heads, lowercase hex. */
  readonly root: string;
  readonly heads: readonly ChainHeadEntry[];
  readonly key_id: string;
  /** Standard base64 Ed25519 signature over chainSetSignedBytes(). */
  readonly sig: string;
}

export function chainSetRoot(heads: readonly ChainHeadEntry[]): Buffer {
  const tree = new MerkleAccumulator();
  for (const h of heads) tree.append(Buffer.from(JSON.stringify([h.chain, h.seq, h.head_hash]), 'utf8'));
  return tree.root();
}

export function chainSetSignedBytes(c: Pick<ChainSetCheckpoint, 'ledger_id' | 'n' | 'time' | 'chains' | 'root'>): Buffer {
  return Buffer.from(`${CHAIN_SET_SIGNED_HEADER}\n${c.ledger_id}\n${c.n}\n${c.time}\n${c.chains}\n${c.root}\n`, 'utf8');
}

export function signChainSet(ledgerId: string, n: number, heads: readonly ChainHeadEntry[], key: SigningKey, time = new Date()): ChainSetCheckpoint {
  const body = { ledger_id: ledgerId, n, time: time.toISOString(), chains: heads.length, root: chainSetRoot(heads).toString('hex') };
  const sig = edSign(null, chainSetSignedBytes(body), key.privateKey).toString('base64');
  return { v: 1, ...body, heads, key_id: key.keyId, sig };
}

export const CHAIN_SET_FINDING_KINDS = ['chain_set_unknown_key', 'chain_set_bad_signature', 'chain_set_root_mismatch', 'chain_set_order', 'chain_set_backwards', 'chain_dropped', 'chain_set_head_mismatch'] as const;
export type ChainSetFindingKind = (typeof CHAIN_SET_FINDING_KINDS)[number];

export interface ChainSetFinding {
  readonly kind: ChainSetFindingKind;
  readonly chain: string;
  readonly seq: number;
  readonly detail: string;
}

/** Signature, root and order of one checkpoint; empty when sound. */
export function checkChainSet(c: ChainSetCheckpoint, keys: readonly VerifyingKey[]): ChainSetFinding[] {
  const key = keys.find((k) => k.keyId === c.key_id);
  if (!key) return [{ kind: 'chain_set_unknown_key', chain: '', seq: 0, detail: `chain-set checkpoint ${c.n} is signed by key ${c.key_id}, not one given` }];
  if (!edVerify(null, chainSetSignedBytes(c), key.publicKey, Buffer.from(c.sig, 'base64'))) {
    return [{ kind: 'chain_set_bad_signature', chain: '', seq: 0, detail: `chain-set checkpoint ${c.n}: signature does not verify` }];
  }
  const out: ChainSetFinding[] = [];
  if (c.heads.length !== c.chains || chainSetRoot(c.heads).toString('hex') !== c.root) {
    out.push({ kind: 'chain_set_root_mismatch', chain: '', seq: 0, detail: `chain-set checkpoint ${c.n}: the heads listed do not give the signed root` });
  }
  for (let i = 1; i < c.heads.length; i++) {
    if (Buffer.compare(Buffer.from(c.heads[i - 1]!.chain), Buffer.from(c.heads[i]!.chain)) >= 0) {
      out.push({ kind: 'chain_set_order', chain: c.heads[i]!.chain, seq: 0, detail: `chain-set checkpoint ${c.n}: chains not in strictly increasing byte order` });
    }
  }
  return out;
}

/** A later checkpoint keeps every chain of the earlier one, at the same seq or beyond. */
export function compareChainSets(prev: ChainSetCheckpoint, next: ChainSetCheckpoint): ChainSetFinding[] {
  const out: ChainSetFinding[] = [];
  const later = new Map(next.heads.map((h) => [h.chain, h]));
  for (const h of prev.heads) {
    const n = later.get(h.chain);
    if (!n) out.push({ kind: 'chain_dropped', chain: h.chain, seq: h.seq, detail: `chain-set checkpoint ${next.n} no longer lists chain "${h.chain}" (checkpoint ${prev.n} had it at seq ${h.seq})` });
    else if (n.seq < h.seq || (n.seq === h.seq && n.head_hash !== h.head_hash)) {
      out.push({ kind: 'chain_set_backwards', chain: h.chain, seq: n.seq, detail: `chain "${h.chain}" went from seq ${h.seq} (checkpoint ${prev.n}) to seq ${n.seq} (checkpoint ${next.n}), or changed its head at the same seq` });
    }
  }
  if (next.n !== prev.n + 1) out.push({ kind: 'chain_set_backwards', chain: '', seq: 0, detail: `chain-set checkpoint ${next.n} follows ${prev.n}: one is missing` });
  return out;
}

/**
 * Every chain-set checkpoint in the database, in order: each sound, each keeping the chains of the
 * one before; the last one against the chain heads now: every chain it lists still exists, at its
 * seq or beyond. Returns the findings and how many checkpoints were read.
 */
export async function verifyChainSets(client: pg.Client, keys: readonly VerifyingKey[]): Promise<{ findings: ChainSetFinding[]; checkpoints: number; chains: number }> {
  const findings: ChainSetFinding[] = [];
  const rows = await client.query<{ record: ChainSetCheckpoint }>('SELECT record FROM chain_set_checkpoints ORDER BY n');
  let prev: ChainSetCheckpoint | undefined;
  for (const { record } of rows.rows) {
    findings.push(...checkChainSet(record, keys));
    if (prev) findings.push(...compareChainSets(prev, record));
    prev = record;
  }
  if (prev) {
    const now = await client.query<{ chain: string; head_seq: string; head_hash: string }>("SELECT chain, head_seq::text, encode(head_hash, 'hex') AS head_hash FROM chains");
    const heads = new Map(now.rows.map((r) => [r.chain, r]));
    for (const h of prev.heads) {
      const cur = heads.get(h.chain);
      if (!cur) findings.push({ kind: 'chain_dropped', chain: h.chain, seq: h.seq, detail: `chain "${h.chain}" is in signed chain-set checkpoint ${prev.n} (seq ${h.seq}) and no longer in the ledger` });
      else if (Number(cur.head_seq) < h.seq || (Number(cur.head_seq) === h.seq && cur.head_hash !== h.head_hash)) {
        findings.push({ kind: 'chain_set_head_mismatch', chain: h.chain, seq: Number(cur.head_seq), detail: `chain "${h.chain}" head is seq ${cur.head_seq}, behind (or other than) seq ${h.seq} of signed chain-set checkpoint ${prev.n}` });
      }
    }
  }
  return { findings, checkpoints: rows.rows.length, chains: prev?.chains ?? 0 };
}

export interface ChainSetCheckpointerOptions {
  /** The primary. The checkpointer keeps one connection of its own: the chain-set lock lives in its session. */
  readonly databaseUrl: string;
  readonly key: SigningKey;
  readonly log: Logger;
  readonly intervalMs: number;
  /** Also appended here (the copy outside the database); unset: database only. */
  readonly file?: string;
}

/**
 * pg_try_advisory_lock key, held by the session of the one instance that signs. A session lock, so
 * a transaction-mode pooler between serve and PostgreSQL breaks it (as it breaks the chain locks).
 */
const LOCK_SQL = "SELECT pg_try_advisory_lock(hashtextextended('syslog-ledger:chain-set', 0)) AS ok";

/**
 * Takes a chain-set checkpoint every `intervalMs` (serve: 1 s by default), by exactly one of the
 * instances writing to the ledger: the one whose connection holds the chain-set lock. The others
 * try to take the lock at each tick, so when the signer dies (its session ends and the lock with
 * it) another one signs from its next tick on. The signer writes a checkpoint only when a head
 * moved since the last one. Taking it on the session that holds the lock means an instance that
 * lost its connection (and so the lock) cannot sign either. The number `n` is the primary key: two
 * signers (a lock lost while a checkpoint was being written) can never both write one number.
 * A failure is logged and retried at the next tick.
 */
export class ChainSetCheckpointer {
  readonly #o: ChainSetCheckpointerOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  #ledgerId: string | undefined;
  #client: pg.Client | undefined;
  #leading = false;
  #closed = false;

  constructor(o: ChainSetCheckpointerOptions) {
    this.#o = o;
  }

  /** Whether this instance holds the chain-set lock (it signs). */
  get leading(): boolean {
    return this.#leading;
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.#running = this.#running.then(() => this.tick().then(() => undefined, (err: unknown) => this.#o.log.warn({ err: describeError(err) }, 'chain-set checkpoint failed; retrying at the next tick')));
    }, this.#o.intervalMs);
    this.#timer.unref();
  }

  /**
   * Stops. The signer first signs the heads as they are (serve closes this after its writer's last
   * commit), so the last checkpoint covers what this server wrote. The lock goes with the
   * connection: another instance signs from its next tick.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#running;
    if (this.#leading && this.#client) await this.#take(this.#client).catch((err: unknown) => this.#o.log.warn({ err: describeError(err) }, 'chain-set: the last checkpoint at stop failed'));
    await this.#drop();
  }

  /**
   * One attempt; returns the checkpoint taken, or undefined (another instance holds the lock, or
   * nothing moved).
   */
  async tick(): Promise<ChainSetCheckpoint | undefined> {
    if (this.#closed) return undefined;
    try {
      if (!this.#client) {
        // Bounded: serve's stop waits for a tick in progress.
        const c = new pg.Client({ connectionString: this.#o.databaseUrl, application_name: 'syslog-ledger chain-set', connectionTimeoutMillis: 5000, options: '-c statement_timeout=10000' });
        // A lost connection fails the next query, which drops it (and with it the lock).
        c.on('error', () => undefined);
        await c.connect();
        this.#client = c;
      }
      const client = this.#client;
      if (!this.#leading) {
        if (!(await client.query<{ ok: boolean }>(LOCK_SQL)).rows[0]?.ok) return undefined;
        this.#leading = true;
        this.#o.log.info('chain-set: this instance holds the chain-set lock and signs the chain-set checkpoints');
      }
      return await this.#take(client);
    } catch (err) {
      if (this.#leading) this.#o.log.warn('chain-set: lost the chain-set lock with its connection; another instance signs');
      await this.#drop();
      throw err;
    }
  }

  async #drop(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    this.#leading = false;
    await c?.end().catch(() => undefined);
  }

  async #take(client: pg.Client): Promise<ChainSetCheckpoint | undefined> {
    let taken: ChainSetCheckpoint | undefined;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      this.#ledgerId ??= (await client.query<{ id: string }>('SELECT ledger_id::text AS id FROM ledger_meta')).rows[0]!.id;
      const last = (await client.query<{ record: ChainSetCheckpoint }>('SELECT record FROM chain_set_checkpoints ORDER BY n DESC LIMIT 1')).rows[0]?.record;
      const res = await client.query<{ chain: string; seq: string; head_hash: string }>(
        `SELECT chain, head_seq::text AS seq, encode(head_hash, 'hex') AS head_hash FROM chains ORDER BY chain COLLATE "C"`,
      );
      const heads = res.rows.map((r) => ({ chain: r.chain, seq: Number(r.seq), head_hash: r.head_hash }));
      // jsonb reorders an object's keys: compare the values.
      const same = last !== undefined && last.heads.length === heads.length && last.heads.every((h, i) => h.chain === heads[i]!.chain && h.seq === heads[i]!.seq && h.head_hash === heads[i]!.head_hash);
      if (!same) {
        const now = new Set(heads.map((h) => h.chain));
        const gone = (last?.heads ?? []).filter((h) => !now.has(h.chain)).map((h) => h.chain);
        if (gone.length) this.#o.log.error({ chains: gone, checkpoint: last!.n }, 'chains signed in the last chain-set checkpoint are gone from the ledger (verify reports chain_dropped)');
        taken = signChainSet(this.#ledgerId, (last?.n ?? 0) + 1, heads, this.#o.key);
        await client.query('INSERT INTO chain_set_checkpoints (n, signed_at, chains, root, key_id, record) VALUES ($1, $2, $3, $4, $5, $6)', [
          taken.n, taken.time, taken.chains, Buffer.from(taken.root, 'hex'), taken.key_id, JSON.stringify(taken),
        ]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    if (taken && this.#o.file) {
      await mkdir(dirname(this.#o.file), { recursive: true });
      await appendFile(this.#o.file, `${JSON.stringify(taken)}\n`);
    }
    return taken;
  }
}
