/**
 * Reads of the ledger through syslog-ledger, on the record (docs/evidence.md "Access records"):
 * every `export` and `prove` appends an OCSF API Activity (6003, Read) event to the ledger.
 *
 * Where: its own chain, ACCESS_CHAIN, which no `serve` writes (each serve owns only its `--chain`
 * and its checkpointer only restores and signs that one). A command appends to it the way
 * `archive` appends to the retention chain: in one transaction it takes the chain's advisory lock
 * (the writer's lock key, transaction-scoped: concurrent commands queue, and a serve started with
 * `--chain syslog-ledger.access` would be refused the lock), locks the chain row, chains on its
 * head, COPYs the row, moves the head, and signs a checkpoint of the new head with the Merkle
 * nodes completed. After the commit, under the lock again, the newest checkpoint is appended to the
 * checkpoint file when the file is behind it; one that a crash kept out of the file is appended by
 * the next access record. So the chain never has an
 * unsigned tail, and no two processes ever chain on the same head. The file append also runs under
 * the lock, so the file's checkpoints of the chain only go forward.
 *
 * A read that cannot be recorded does not happen: the command fails (export leaves no package,
 * prove prints no proof).
 */
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { chainRecord } from '../ledger/canonical.js';
import { keyMap, parseCheckpoint, signCheckpoint, verifyCheckpointSignature, type Checkpoint } from '../checkpoints/checkpoint.js';
import { CheckpointFile, readTailCheckpoints } from '../checkpoints/file.js';
import { COPY_SQL, copyLine } from '../ledger/copy.js';
import { internalRecord } from '../ledger/internal-record.js';
import { MerkleAccumulator } from '../checkpoints/merkle.js';
import { STORED_MIN_LEVEL, insertNodes, readRowHashes, restoreAccumulator, type PendingNode } from '../checkpoints/merkle-store.js';
import type { SigningKey } from '../checkpoints/signing.js';
import { ZERO_HASH } from '../ledger/types.js';
import { OCSF_VERSION } from '../normalize/ocsf.js';
import type { OcsfEvent } from '../normalize/types.js';
import { retentionBoundaries } from '../retention/boundaries.js';
import { osUser, type ExportSummary } from './export.js';
import { ChainIntegrityError } from '../errors.js';

/** The chain of access records. */
export const ACCESS_CHAIN = 'syslog-ledger.access';

/** The chain's advisory lock key: the ledger writer's (src/ledger/chain-ownership.ts lockKey). */
const LOCK_KEY = `syslog-ledger:chain:${ACCESS_CHAIN}`;

/** Who read: the OS account running the command, the database role it connected as, the machine. */
export interface Reader {
  readonly osUser: string;
  readonly dbUser: string;
  readonly host: string;
}

export interface AccessRecordOptions {
  readonly key: SigningKey;
  readonly checkpointFile: string;
  /** The event, given who is reading. */
  readonly event: (who: Reader) => OcsfEvent;
  readonly now?: () => number;
}

/** Appends one access record to ACCESS_CHAIN, signed; returns its seq. */
export async function recordAccess(databaseUrl: string, o: AccessRecordOptions): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'syslog-ledger access record' });
  await client.connect();
  try {
    const dbUser = (await client.query<{ u: string }>('SELECT session_user AS u')).rows[0]?.u ?? '';
    const nowMs = (o.now ?? Date.now)();
    const event = o.event({ osUser: osUser(), dbUser, host: hostname() });
    const record = internalRecord(event, { receivedAtUs: nowMs * 1000, hostname: hostname(), msgid: `access.${String((event.api as { operation?: string } | undefined)?.operation ?? 'read')}` });
    await client.query('BEGIN');
    let cp: Checkpoint;
    let seq: number;
    try {
      await client.query("SET LOCAL lock_timeout = '60s'");
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [LOCK_KEY]);
      await client.query('INSERT INTO chains (chain) VALUES ($1) ON CONFLICT (chain) DO NOTHING', [ACCESS_CHAIN]);
      const head = (await client.query<{ head_seq: string; head_hash: Buffer }>('SELECT head_seq, head_hash FROM chains WHERE chain = $1 FOR UPDATE', [ACCESS_CHAIN])).rows[0]!;
      const headSeq = Number(head.head_seq);
      const nodes: PendingNode[] = [];
      const acc = await accumulatorAt(client, headSeq, head.head_hash ?? ZERO_HASH, (n) => nodes.push(n));
      seq = headSeq + 1;
      const { row, syslogJson, eventJson } = chainRecord(record, ACCESS_CHAIN, seq, headSeq === 0 ? ZERO_HASH : head.head_hash);
      await pipeline(Readable.from([copyLine(row, syslogJson, eventJson)]), client.query(copyStreams.from(COPY_SQL)));
      await client.query('UPDATE chains SET head_seq = $2, head_hash = $3, updated_at = now() WHERE chain = $1', [ACCESS_CHAIN, seq, row.hash]);
      acc.append(row.hash);
      const ledgerId = (await client.query<{ id: string }>('SELECT ledger_id::text AS id FROM ledger_meta')).rows[0]!.id;
      cp = signCheckpoint(
        { ledger_id: ledgerId, chain: ACCESS_CHAIN, seq, tree_size: seq, head_hash: row.hash.toString('hex'), merkle_root: acc.root().toString('hex'), time: new Date(nowMs).toISOString() },
        o.key,
      );
      await insertNodes(client, ACCESS_CHAIN, nodes);
      await client.query(
        `INSERT INTO checkpoints (chain, seq, tree_size, head_hash, merkle_root, signed_at, key_id, record)
         VALUES ($1, $2, $2, $3, $4, $5, $6, $7)`,
        [cp.chain, cp.seq, Buffer.from(cp.head_hash, 'hex'), Buffer.from(cp.merkle_root, 'hex'), cp.time, cp.key_id, JSON.stringify(cp)],
      );
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
    // To the file, in seq order: two commands that committed seq N and N+1 could otherwise append
    // N+1 first (verify: checkpoint_backwards). Under the chain's lock, the newest checkpoint in the
    // database is appended when the file is behind it (ours, or a later one that covers ours).
    await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [LOCK_KEY]);
    try {
      await catchUpFile(client, o);
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [LOCK_KEY]);
    }
    return seq;
  } finally {
    await client.end().catch(() => {});
  }
}

/** The chain's Merkle accumulator at `head` rows: from an archived prefix's frontier, or from stored nodes. */
async function accumulatorAt(client: pg.Client, head: number, headHash: Buffer, sink: (n: PendingNode) => void): Promise<MerkleAccumulator> {
  if (head === 0) return new MerkleAccumulator({ onNode: (l, i, h) => sink([l, i, h]), onNodeMinLevel: STORED_MIN_LEVEL });
  const boundary = (await retentionBoundaries(client)).get(ACCESS_CHAIN);
  let acc: MerkleAccumulator;
  if (boundary !== undefined) {
    acc = new MerkleAccumulator({ onNode: (l, i, h) => sink([l, i, h]), onNodeMinLevel: STORED_MIN_LEVEL });
    acc.restore(boundary.frontier);
    for (const h of await readRowHashes(client, ACCESS_CHAIN, boundary.firstSeq - 1, head)) acc.append(h);
  } else {
    acc = (await restoreAccumulator(client, ACCESS_CHAIN, head, sink)).acc;
  }
  const [last] = await readRowHashes(client, ACCESS_CHAIN, head - 1, head);
  if (!last?.equals(headHash)) throw new ChainIntegrityError(ACCESS_CHAIN, `chain ${ACCESS_CHAIN}: the head hash differs from row ${head}; run syslog-ledger verify`);
  return acc;
}

/** A checkpoint committed by a command that stopped before appending it to the file is appended now. */
async function catchUpFile(client: pg.Client, o: AccessRecordOptions): Promise<void> {
  const res = await client.query<{ record: unknown }>('SELECT record FROM checkpoints WHERE chain = $1 ORDER BY seq DESC LIMIT 1', [ACCESS_CHAIN]);
  if (res.rows[0] === undefined) return;
  const cp = parseCheckpoint(res.rows[0].record);
  if (verifyCheckpointSignature(cp, keyMap([{ publicKey: o.key.publicKey, keyId: o.key.keyId }])) !== 'valid') return;
  const tail = await readTailCheckpoints(o.checkpointFile);
  if ((tail.latest.get(ACCESS_CHAIN)?.seq ?? 0) >= cp.seq) return;
  const file = await CheckpointFile.open(o.checkpointFile);
  try {
    await file.append(cp);
  } finally {
    await file.close();
  }
}

/** The common shape of an access event: OCSF API Activity, Read, by the reader (also the console's, src/console/access.ts). */
export function apiRead(who: Reader, operation: string, message: string, details: Record<string, unknown>, nowMs: number): OcsfEvent {
  return {
    class_uid: 6003,
    class_name: 'API Activity',
    category_uid: 6,
    category_name: 'Application Activity',
    activity_id: 2,
    activity_name: 'Read',
    type_uid: 600302,
    severity_id: 1,
    severity: 'Informational',
    status_id: 1,
    status: 'Success',
    time: nowMs,
    time_dt: new Date(nowMs).toISOString(),
    message,
    actor: { user: { name: who.osUser, type: 'OS account' }, app_name: `syslog-ledger ${operation}` },
    api: { operation, service: { name: 'syslog-ledger' } },
    device: { hostname: who.host },
    src_endpoint: { hostname: who.host },
    metadata: { version: OCSF_VERSION, product: { name: 'syslog-ledger', vendor_name: 'syslog-ledger' }, log_provider: 'syslog-ledger' },
    unmapped: { access: { command: operation, os_user: who.osUser, db_user: who.dbUser, host: who.host, ...details } },
  };
}

/** The access record of an export. */
export function exportAccessEvent(s: ExportSummary, nowMs = Date.now()): (who: Reader) => OcsfEvent {
  return (who) =>
    apiRead(
      who,
      'export',
      `${who.osUser}@${who.host} (database user ${who.dbUser}) exported ${s.matching} ledger rows (${s.mode}) to ${s.dir}; manifest sha256 ${s.manifestSha256}`,
      {
        mode: s.mode,
        query: s.query,
        rows: s.matching,
        lines: s.lines,
        runs: s.runs,
        package: { dir: s.dir, manifest_sha256: s.manifestSha256, bytes: s.bytes },
        ledger_id: s.ledgerId,
      },
      nowMs,
    );
}

/** The access record of a prove. */
export function proveAccessEvent(p: { chain: string; seq?: number; consistency?: [number, number]; proofSha256: string; valid: boolean }, nowMs = Date.now()): (who: Reader) => OcsfEvent {
  const what = p.seq !== undefined ? `inclusion proof of chain "${p.chain}" seq ${p.seq}` : `consistency proof of chain "${p.chain}" ${p.consistency?.[0]} -> ${p.consistency?.[1]}`;
  return (who) =>
    apiRead(
      who,
      'prove',
      `${who.osUser}@${who.host} (database user ${who.dbUser}) read the ${what}${p.valid ? '' : ' (it did NOT verify)'}`,
      { chain: p.chain, ...(p.seq !== undefined ? { seq: p.seq, rows: 1 } : { consistency: p.consistency, rows: 0 }), proof_sha256: p.proofSha256, valid: p.valid },
      nowMs,
    );
}
