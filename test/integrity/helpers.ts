/**
 * Test support for the integrity tests: a uniquely named database per test file on the machine's
 * PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres), migrated, and
 * rows with a real hash chain. The row hash here is
 * SHA-256(prev_hash || raw) - a stand-in for the canonical form, which these tests do not need:
 * checkpoints and Merkle proofs only see the `hash` column.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.js';
import { waitForSessionsToEnd } from '../helpers/db.js';


export const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDb {
  readonly url: string;
  readonly pool: pg.Pool;
  readonly ledgerId: string;
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function createDb(prefix = 'sl_integrity'): Promise<TestDb> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = withDatabase(ADMIN_URL, name);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  await migrate(url);
  const ledgerId = (await pool.query<{ id: string }>('SELECT ledger_id::text AS id FROM ledger_meta')).rows[0]!.id;
  return {
    url,
    pool,
    ledgerId,
    drop: async () => {
      await pool.end();
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await waitForSessionsToEnd(c, name);
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export function rowHash(prev: Buffer, raw: Buffer): Buffer {
  return createHash('sha256').update(prev).update(raw).digest();
}

/** Appends n rows to a chain (as the writer would: rows, then the chain head); returns them. */
export async function appendRows(db: pg.Pool, chain: string, n: number): Promise<Array<{ seq: number; hash: Buffer }>> {
  await db.query('INSERT INTO chains (chain) VALUES ($1) ON CONFLICT DO NOTHING', [chain]);
  const head = (await db.query<{ head_seq: string; head_hash: Buffer }>('SELECT head_seq, head_hash FROM chains WHERE chain = $1', [chain])).rows[0]!;
  let seq = Number(head.head_seq);
  let prev = head.head_hash;
  const seqs: number[] = [];
  const raws: Buffer[] = [];
  const prevs: Buffer[] = [];
  const hashes: Buffer[] = [];
  const out: Array<{ seq: number; hash: Buffer }> = [];
  for (let i = 0; i < n; i++) {
    seq += 1;
    const raw = Buffer.from(`<13>1 - host app - - - event ${chain} ${seq}`);
    const hash = rowHash(prev, raw);
    seqs.push(seq);
    raws.push(raw);
    prevs.push(prev);
    hashes.push(hash);
    out.push({ seq, hash });
    prev = hash;
  }
  for (let i = 0; i < n; i += 5000) {
    await db.query(
      `INSERT INTO ledger (chain, seq, received_at, format, raw, syslog, event, prev_hash, hash)
       SELECT $1, s, now(), 'rfc5424', r, '{}', '{}', p, h FROM unnest($2::bigint[], $3::bytea[], $4::bytea[], $5::bytea[]) AS t(s, r, p, h)`,
      [chain, seqs.slice(i, i + 5000), raws.slice(i, i + 5000), prevs.slice(i, i + 5000), hashes.slice(i, i + 5000)],
    );
  }
  await db.query('UPDATE chains SET head_seq = $2, head_hash = $3 WHERE chain = $1', [chain, seq, prev]);
  return out;
}

/** Runs SQL as the superuser with the append-only guards of `table` disabled (the attacker's move). */
export async function tamper(db: pg.Pool, table: string, sql: string, values: unknown[] = []): Promise<void> {
  const c = await db.connect();
  try {
    await c.query(`ALTER TABLE ${table} DISABLE TRIGGER USER`);
    await c.query(sql, values);
    await c.query(`ALTER TABLE ${table} ENABLE TRIGGER USER`);
  } finally {
    c.release();
  }
}

export async function tempDir(): Promise<{ dir: string; path: (f: string) => string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'sl-integrity-'));
  return { dir, path: (f) => join(dir, f), remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Appends n rows hashed with the real canonical form (src/ledger/canonical.ts), in version 2 (what
 * serve writes) or version 1 (rows written before it), so that the proof's event can be re-hashed by
 * verify-proof. The lifted columns are the event's, as the writer stores them.
 */
export async function appendCanonicalRows(db: pg.Pool, chain: string, n: number, form: 1 | 2 = 2): Promise<Array<{ seq: number; hash: Buffer }>> {
  const { canonicalJson, chainHash, ledgerColumns } = await import('../../src/ledger/canonical.js');
  const { liftColumns } = await import('../../src/normalize/columns.js');
  await db.query('INSERT INTO chains (chain) VALUES ($1) ON CONFLICT DO NOTHING', [chain]);
  const head = (await db.query<{ head_seq: string; head_hash: Buffer }>('SELECT head_seq, head_hash FROM chains WHERE chain = $1', [chain])).rows[0]!;
  let seq = Number(head.head_seq);
  let prev = head.head_hash;
  const out: Array<{ seq: number; hash: Buffer }> = [];
  const rows: unknown[][] = [];
  for (let i = 0; i < n; i++) {
    seq += 1;
    const us = 1_700_000_000_000_000 + seq * 1000;
    const raw = Buffer.from(`<86>1 2023-11-14T22:13:20Z web1 sshd 42 - - Accepted publickey for user${seq} from 2001:DB8::${seq.toString(16)}`);
    const syslog = { app_name: 'sshd', hostname: 'web1', msg: `Accepted publickey for user${seq}` };
    const event = {
      class_uid: 3002, activity_id: 1, status_id: 1, severity_id: 1, time_dt: '2023-11-14T23:13:20.1234567+01:00', message: `login ${seq}`,
      device: { hostname: 'web1' }, metadata: { log_provider: 'sshd' }, user: { name: `user${seq}` }, src_endpoint: { ip: `2001:DB8::${seq.toString(16)}` },
    };
    const { columns, lifted } = ledgerColumns(liftColumns(event as never));
    const hash = chainHash(prev, {
      chain,
      seq,
      receivedAtUs: us,
      peerCn: 'web1.example',
      peerSans: ['web1.example'],
      peerAddr: '192.0.2.1',
      format: 'rfc5424',
      truncated: false,
      parseError: null,
      raw,
      syslogJson: canonicalJson(syslog),
      eventJson: canonicalJson(event),
      lifted: form === 2 ? lifted! : undefined,
    });
    const c = columns;
    rows.push([seq, new Date(us / 1000).toISOString(), raw, canonicalJson(syslog), canonicalJson(event), c.event_time, c.hostname, c.app_name, c.class_uid,
      c.activity_id, c.status_id, c.severity_id, c.user_name, c.actor_user, c.src_ip, prev, hash]);
    out.push({ seq, hash });
    prev = hash;
  }
  const cols = rows[0]!.map((_, k) => rows.map((r) => r[k]));
  await db.query(
    `INSERT INTO ledger (chain, seq, received_at, peer_cn, peer_sans, peer_addr, format, raw, syslog, event, event_time, hostname, app_name,
                         class_uid, activity_id, status_id, severity_id, user_name, actor_user, src_ip, prev_hash, hash)
     SELECT $1, s, t, 'web1.example', '{web1.example}', '192.0.2.1', 'rfc5424', r, sy::json, ev::json, et, hn, an, cu, ai, si, sv, un, au, ip::inet, p, h
       FROM unnest($2::bigint[], $3::timestamptz[], $4::bytea[], $5::text[], $6::text[], $7::timestamptz[], $8::text[], $9::text[], $10::int[], $11::int[],
                   $12::int[], $13::int[], $14::text[], $15::text[], $16::text[], $17::bytea[], $18::bytea[])
         AS x(s, t, r, sy, ev, et, hn, an, cu, ai, si, sv, un, au, ip, p, h)`,
    [chain, ...cols],
  );
  await db.query('UPDATE chains SET head_seq = $2, head_hash = $3 WHERE chain = $1', [chain, seq, prev]);
  return out;
}
