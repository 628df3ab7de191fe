/**
 * Tamper evidence against a database superuser (issue 5, docs/integrity.md "Threat model"): the real
 * server writes a ledger and its signed checkpoint file, then each test tampers with a copy of that
 * database (CREATE DATABASE ... TEMPLATE) behind disabled guard triggers, or with a copy of the
 * checkpoint file, and runs the real `syslog-ledger verify`. Every finding must name chain and seq.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCheckpoint, serializeCheckpoint, signCheckpoint, type Checkpoint } from '../../src/checkpoints/checkpoint.js';
import { loadOrCreateSigningKey } from '../../src/checkpoints/signing.js';
import { readChain, recomputeHash, type StoredRow } from '../../src/verify/verify.js';
import { adminUrl, query, withDatabase } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { connect, sendAndClose, waitFor } from '../helpers/tls-client.js';

const N = 3000;
const BURST = 500;
const CHAIN = 'test-chain';
const USERS = ['alice', 'bob', 'carol', 'deploy', 'root'];

/** A realistic mix: RFC 5424 with structured data, RFC 3164 sshd (user, source IP), JSON. */
function message(i: number): string {
  const user = USERS[i % USERS.length]!;
  const ip = `198.51.100.${(i % 250) + 1}`;
  const ts = new Date(Date.UTC(2026, 0, 15, 9, 0, 0) + i * 13).toISOString();
  switch (i % 3) {
    case 0:
      return `<134>1 ${ts} web-${i % 4}.example.com nginx 4242 ACCESS [request@32473 method="GET" path="/api/v1/items/${i}" status="200"] user=${user} req=${i}`;
    case 1:
      return `<38>Jan 15 09:00:${String(i % 60).padStart(2, '0')} bastion sshd[${1000 + i}]: Accepted publickey for ${user} from ${ip} port ${20000 + i} ssh2`;
    default:
      return `{"@timestamp":"${ts}","host":"app-${i % 2}","severity":"info","facility":"auth","tag":"sshd[77]:","message":"Failed password for ${user} from ${ip} port ${30000 + i} ssh2"}`;
  }
}

let server: RunningServer;
let dbName: string;
let checkpointFile: string;
let checkpoints: Checkpoint[];
const clones: string[] = [];

/** A copy of the server's (stopped) database for one test to tamper with. */
async function cloneLedger(): Promise<string> {
  const name = `${dbName}_t${clones.length}`;
  clones.push(name);
  await query(adminUrl(), `CREATE DATABASE ${name} TEMPLATE ${dbName}`);
  return withDatabase(adminUrl(), name);
}

/** The attacker's move: a superuser disables the ledger's guard triggers, changes rows, re-enables them. */
async function asSuperuser(url: string, fn: (c: pg.Client) => Promise<void>): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('BEGIN');
    await c.query('ALTER TABLE ledger DISABLE TRIGGER ledger_no_update_delete');
    await c.query('ALTER TABLE ledger DISABLE TRIGGER ledger_no_truncate');
    await fn(c);
    await c.query('ALTER TABLE ledger ENABLE TRIGGER ledger_no_update_delete');
    await c.query('ALTER TABLE ledger ENABLE TRIGGER ledger_no_truncate');
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    await c.end();
  }
}

/**
 * Runs verify twice: in one thread, and on 2 worker threads with ranges of 500 seqs (boundaries at
 * 501, 1001, 1501, ...: the deleted row 1500 and the changed row 2001 sit on them), which must report
 * exactly the same.
 */
async function verify(url: string, ...args: string[]): Promise<{ code: number | null; out: string }> {
  const one = await server.cli(['verify', '--database-url', url, '--workers', '0', ...args]);
  const par = await server.cli(['verify', '--database-url', url, '--workers', '2', '--range-size', '500', ...args]);
  const timing = (out: string): string => out.replace(/ checked in [\d.]+ s \(\d+ rows\/s\)/, '');
  expect(timing(par.stdout + par.stderr)).toBe(timing(one.stdout + one.stderr));
  expect(par.code).toBe(one.code);
  return { code: one.code, out: one.stdout + one.stderr };
}

/** The TAMPERED lines as "seq kind" (chain checked separately). */
function findings(out: string): string[] {
  return [...out.matchAll(/^TAMPERED chain=(\S+) seq=(\d+) (\w+): (?:(\w+): )?/gm)].map((m) => {
    expect(m[1]).toBe(CHAIN);
    return `${m[2]} ${m[4] ?? m[3]}`;
  });
}

/** Seq of the first signed checkpoint at or after `seq`. */
function checkpointAtOrAfter(seq: number): number {
  const c = checkpoints.find((x) => x.seq >= seq);
  if (c === undefined) throw new Error(`no checkpoint covers seq ${seq}`);
  return c.seq;
}

/** One stored row, as verify reads it. */
async function firstRow(url: string, seq: number): Promise<StoredRow> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for await (const [row] of readChain(c, CHAIN, seq, 1)) {
      if (row?.seq === seq) return row;
      break;
    }
    throw new Error(`no row ${seq}`);
  } finally {
    await c.end();
  }
}

function readCheckpoints(path: string): Checkpoint[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => parseCheckpoint(l));
}

beforeAll(async () => {
  server = await startServer();
  dbName = new URL(server.databaseUrl).pathname.slice(1);
  checkpointFile = join(server.workDir, 'data', 'checkpoints.jsonl');
  // Six bursts, each waited for until a checkpoint covers it (the signer needs <= 1 s): several
  // checkpoints, so that "the first checkpoint after the change" means something.
  for (let start = 0; start < N; start += BURST) {
    const socket = await connect(server.port, { cert: server.pki.client, key: server.pki.clientKey, ca: server.pki.ca });
    let payload = '';
    for (let i = start; i < start + BURST; i++) payload += `${message(i)}\n`;
    await sendAndClose(socket, payload);
    await waitFor(async () => readCheckpoints(checkpointFile).some((c) => c.chain === CHAIN && c.seq === start + BURST), 15_000);
  }
  expect(await server.stop()).toBe(0);
  checkpoints = readCheckpoints(checkpointFile).filter((c) => c.chain === CHAIN);
  expect(checkpoints.length).toBeGreaterThanOrEqual(N / BURST);
});

afterAll(async () => {
  for (const name of clones) await query(adminUrl(), `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
  await server?.cleanup();
});

describe('verify against a superuser who disables the guard triggers', () => {
  it('intact: the server-written ledger and its checkpoint file verify with exit 0', async () => {
    const r = await verify(server.databaseUrl);
    expect(r.out).toContain(`intact: ${N} rows`);
    expect(r.code).toBe(0);
  });

  it('changed raw bytes: hash_mismatch at that seq', async () => {
    const url = await cloneLedger();
    await asSuperuser(url, async (c) => {
      await c.query(`UPDATE ledger SET raw = overlay(raw placing 'X'::bytea from 10) WHERE chain = $1 AND seq = 1234`, [CHAIN]);
    });
    const r = await verify(url);
    expect(r.code).toBe(1);
    expect(findings(r.out)).toContain('1234 hash_mismatch');
    expect(r.out).toMatch(/TAMPERED chain=test-chain seq=1234 hash_mismatch: row content does not match its hash/);
    // The row hash stayed, so the checkpoints (over the stored hashes) and the links still agree.
    expect(findings(r.out)).toEqual(['1234 hash_mismatch']);
  });

  it('changed stored OCSF part (the message the view shows overridden): hash_mismatch at that seq', async () => {
    const url = await cloneLedger();
    await asSuperuser(url, async (c) => {
      await c.query(`UPDATE ledger SET ocsf = (ocsf::jsonb || '{"message": "nothing to see"}')::json WHERE chain = $1 AND seq = 2001`, [CHAIN]);
    });
    expect((await query<{ m: string }>(url, `SELECT event->>'message' AS m FROM ocsf_events WHERE chain = $1 AND seq = 2001`, [CHAIN]))[0]!.m).toBe('nothing to see');
    const r = await verify(url);
    expect(r.code).toBe(1);
    expect(findings(r.out)).toEqual(['2001 hash_mismatch']);
  });

  it('changed peer identity (certificate CN and SANs, stored once per connection): hash_mismatch at every row of that connection', async () => {
    const url = await cloneLedger();
    // The first burst came on one connection: rows 1..BURST reference it.
    const conn = (await query<{ conn: string }>(url, 'SELECT conn FROM ledger WHERE chain = $1 AND seq = 7', [CHAIN]))[0]!.conn;
    await asSuperuser(url, async (c) => {
      await c.query('ALTER TABLE ledger_connections DISABLE TRIGGER USER');
      await c.query(`UPDATE ledger_connections SET peer_cn = 'trusted.example.com', peer_sans = '{DNS:trusted.example.com}' WHERE chain = $1 AND conn = $2`, [CHAIN, conn]);
      await c.query('ALTER TABLE ledger_connections ENABLE TRIGGER USER');
    });
    const r = await verify(url);
    expect(r.code).toBe(1);
    expect(findings(r.out)).toEqual(Array.from({ length: BURST }, (_, i) => `${i + 1} hash_mismatch`));
    expect(r.out).toMatch(new RegExp(`seq=7 hash_mismatch: .*connection ${conn}`));
  });

  it('changed received_at by one microsecond: hash_mismatch at that seq', async () => {
    const url = await cloneLedger();
    await asSuperuser(url, async (c) => {
      await c.query(`UPDATE ledger SET received_at = received_at + interval '1 microsecond' WHERE chain = $1 AND seq = 2999`, [CHAIN]);
    });
    const r = await verify(url);
    expect(r.code).toBe(1);
    expect(findings(r.out)).toEqual(['2999 hash_mismatch']);
  });

  it('changed lifted columns only (user_name, src_ip): hash_mismatch (canonical form v3 covers them) and column_mismatch naming the columns', async () => {
    const url = await cloneLedger();
    // seq 11 is message(10): sshd "Accepted publickey for alice from 198.51.100.11".
    const before = await query<{ user_name: string; src_ip: string }>(url, `SELECT user_name, host(src_ip) AS src_ip FROM ledger WHERE chain = $1 AND seq = 11`, [CHAIN]);
    // canonical form v3 covers them as v2 did; the diagnosis compares them with the event the row gives.
    expect(before[0]).toEqual({ user_name: 'alice', src_ip: '198.51.100.11' });
    await asSuperuser(url, async (c) => {
      await c.query(`UPDATE ledger SET user_name = 'mallory', src_ip = '10.0.0.1' WHERE chain = $1 AND seq = 11`, [CHAIN]);
    });
    const r = await verify(url);
    expect(r.code).toBe(1);
    expect(findings(r.out)).toEqual(['11 hash_mismatch', '11 column_mismatch']);
    expect(r.out).toMatch(/TAMPERED chain=test-chain seq=11 column_mismatch: columns disagree with event: user_name, src_ip/);
  });

  it('a netmask slipped into src_ip (same host, but src_ip = X no longer matches it): hash_mismatch and column_mismatch', async () => {
    const url = await cloneLedger();
    await asSuperuser(url, async (c) => {
      await c.query(`UPDATE ledger SET src_ip = set_masklen(src_ip, 8) WHERE chain = $1 AND seq = 11`, [CHAIN]);
    });
    const after = await query<{ host: string; same: boolean }>(url, `SELECT host(src_ip) AS host, src_ip = '198.51.100.11' AS same FROM ledger WHERE chain = $1 AND seq = 11`, [CHAIN]);
    expect(after[0]).toEqual({ host: '198.51.100.11', same: false });
    const r = await verify(url);
    expect(r.code).toBe(1);
    expect(findings(r.out)).toEqual(['11 hash_mismatch', '11 column_mismatch']);
    expect(r.out).toMatch(/TAMPERED chain=test-chain seq=11 column_mismatch: columns disagree with event: src_ip/);
  });

  it('a row deleted in the middle: seq_gap and hash_mismatch at the next seq (a v3 row chains on the stored hash before it), and the next checkpoint', async () => {
    const url = await cloneLedger();
    await asSuperuser(url, async (c) => {
      await c.query('DELETE FROM ledger WHERE chain = $1 AND seq = 1500', [CHAIN]);
    });
    const r = await verify(url);
    expect(r.code).toBe(1);
    const f = findings(r.out);
    expect(f.slice(0, 2)).toEqual(['1501 seq_gap', '1501 hash_mismatch']);
    expect(r.out).toMatch(/seq=1501 seq_gap: seq 1500\.\.1500 missing/);
    expect(f).toContain(`${checkpointAtOrAfter(1501)} checkpoint_root_mismatch`);
  });

  it('a forged row inserted (hash-consistent, later rows renumbered): hash_mismatch on the row after it', async () => {
    const url = await cloneLedger();
    const prev = (await query<{ hash: Buffer }>(url, 'SELECT hash FROM ledger WHERE chain = $1 AND seq = 1700', [CHAIN]))[0]!.hash;
    await asSuperuser(url, async (c) => {
      await c.query('UPDATE ledger SET seq = seq + 1000000 WHERE chain = $1 AND seq > 1700', [CHAIN]);
      await c.query('UPDATE ledger SET seq = seq - 999999 WHERE chain = $1 AND seq > 1000000', [CHAIN]);
      // A copy of row 1700 with another message; its hash is filled in below.
      await c.query(
        `INSERT INTO ledger (chain, seq, received_at, conn, format, raw, truncated, parse_error, msg_at, facility, severity, procid, msgid, sd,
           event_time, hostname, app_name, class_uid, activity_id, status_id, severity_id, user_name, actor_user, src_ip, ocsf, event, hash)
         SELECT chain, 1701, received_at, conn, format, raw, truncated, parse_error, NULL, facility, severity, procid, msgid, sd,
           event_time, hostname, app_name, class_uid, activity_id, status_id, severity_id, user_name, actor_user, src_ip,
           (ocsf::jsonb || '{"message": "all clear"}')::json, event, $2 FROM ledger WHERE chain = $1 AND seq = 1700`,
        [CHAIN, prev],
      );
      await c.query('UPDATE chains SET head_seq = head_seq + 1 WHERE chain = $1', [CHAIN]);
    });
    // Hashed with the real canonical form and linked to row 1700: consistent by itself.
    const forged = await firstRow(url, 1701);
    await asSuperuser(url, async (c) => {
      await c.query('UPDATE ledger SET hash = $3 WHERE chain = $1 AND seq = $2', [CHAIN, 1701, recomputeHash(prev, forged).hash]);
    });
    const r = await verify(url);
    expect(r.code).toBe(1);
    const f = findings(r.out);
    // Row 1701 is the forgery and hashes correctly; row 1702 (the old 1701) names it.
    expect(f).not.toContain('1701 hash_mismatch');
    expect(f).not.toContain('1701 broken_link');
    expect(f[0]).toEqual('1702 hash_mismatch');
  });

  it('two rows swapped: hash_mismatch at both seqs and the row after them', async () => {
    const url = await cloneLedger();
    await asSuperuser(url, async (c) => {
      await c.query('UPDATE ledger SET seq = 9000000 WHERE chain = $1 AND seq = 800', [CHAIN]);
      await c.query('UPDATE ledger SET seq = 800 WHERE chain = $1 AND seq = 801', [CHAIN]);
      await c.query('UPDATE ledger SET seq = 801 WHERE chain = $1 AND seq = 9000000', [CHAIN]);
    });
    const r = await verify(url);
    expect(r.code).toBe(1);
    const f = findings(r.out);
    expect(f).toEqual(expect.arrayContaining(['800 hash_mismatch', '801 hash_mismatch', '802 hash_mismatch']));
  });

  it('truncation (tail deleted, chain head rewritten to match): only the signed checkpoints catch it (the external file, and the chain-set checkpoint)', async () => {
    const url = await cloneLedger();
    const keep = N - 400;
    await asSuperuser(url, async (c) => {
      await c.query('DELETE FROM ledger WHERE chain = $1 AND seq > $2', [CHAIN, keep]);
      await c.query('UPDATE chains SET head_seq = $2, head_hash = (SELECT hash FROM ledger WHERE chain = $1 AND seq = $2) WHERE chain = $1', [CHAIN, keep]);
    });
    // The hash chain alone is consistent...
    const chainOnly = await verify(url, '--no-checkpoints');
    expect(chainOnly.code).toBe(0);
    // ...the signed checkpoint file vouches for rows up to N.
    const r = await verify(url);
    expect(r.code).toBe(1);
    // ...and so does the chain-set checkpoint serve signed in the database (on by default): the head went back.
    expect(findings(r.out)).toEqual([`${keep + 1} truncated`, `${keep} chain_set_head_mismatch`]);
    expect(r.out).toMatch(new RegExp(`TAMPERED chain=test-chain seq=${keep + 1} checkpoint_truncation: truncated: the ledger ends at seq ${keep} .* vouches for rows up to seq ${N}: 400 rows deleted`));
  });

  it('a chain recomputed without the signing key (one message changed, every hash rewritten from seq 1): only the signed checkpoints catch it', async () => {
    const url = await cloneLedger();
    const changed = 1500;
    await asSuperuser(url, async (c) => {
      await c.query(`UPDATE ledger SET ocsf = (ocsf::jsonb || '{"message": "nothing happened"}')::json WHERE chain = $1 AND seq = $2`, [CHAIN, changed]);
    });
    // Re-chain everything from seq 1 with the real canonical form, as an attacker with the code could.
    const seqs: number[] = [];
    const prevs: Buffer[] = [];
    const hashes: Buffer[] = [];
    let prev: Buffer = Buffer.alloc(32);
    const cur = new pg.Client({ connectionString: url });
    await cur.connect();
    try {
      for await (const batch of readChain(cur, CHAIN, 1, 1000)) {
        for (const row of batch) {
          const { hash } = recomputeHash(prev, row);
          seqs.push(row.seq);
          prevs.push(prev);
          hashes.push(hash);
          prev = hash;
        }
      }
    } finally {
      await cur.end();
    }
    await asSuperuser(url, async (c) => {
      await c.query(
        `UPDATE ledger l SET hash = u.h FROM unnest($2::bigint[], $3::bytea[], $4::bytea[]) AS u(s, p, h)
          WHERE l.chain = $1 AND l.seq = u.s`,
        [CHAIN, seqs, prevs, hashes],
      );
      await c.query('UPDATE chains SET head_hash = $2 WHERE chain = $1', [CHAIN, prev]);
    });
    expect((await verify(url, '--no-checkpoints')).code).toBe(0);
    const r = await verify(url);
    expect(r.code).toBe(1);
    const f = findings(r.out);
    const first = checkpointAtOrAfter(changed);
    expect(f[0]).toBe(`${first} checkpoint_head_mismatch`);
    expect(f[1]).toBe(`${first} checkpoint_root_mismatch`);
    // Nothing before the change, no row-level finding; the chain-set checkpoint (serve's default) signed another head hash.
    expect(f.every((x) => /(checkpoint_(head|root)|chain_set_head)_mismatch$/.test(x) && Number(x.split(' ')[0]) >= first)).toBe(true);
    expect(f.filter((x) => x.endsWith(' chain_set_head_mismatch'))).toHaveLength(1);
  });

  it('a checkpoint file that goes backwards: checkpoint_backwards at the chain and seq of the stale line', async () => {
    const file = join(server.workDir, 'backwards.jsonl');
    const lines = readFileSync(checkpointFile, 'utf8').split('\n').filter(Boolean);
    writeFileSync(file, `${[...lines, lines[0]!].join('\n')}\n`);
    const r = await verify(server.databaseUrl, '--checkpoints', file);
    expect(r.code).toBe(1);
    expect(findings(r.out)).toEqual([`${checkpoints[0]!.seq} checkpoint_backwards`]);
    expect(r.out).toMatch(new RegExp(`seq ${checkpoints[0]!.seq} after a checkpoint at seq ${N}`));
  });

  it('a checkpoint whose signature fails (head hash edited to match a rewritten ledger): checkpoint_bad_signature', async () => {
    const file = join(server.workDir, 'badsig.jsonl');
    const lines = readFileSync(checkpointFile, 'utf8').split('\n').filter(Boolean);
    const mid = Math.floor(lines.length / 2);
    const c = parseCheckpoint(lines[mid]!);
    lines[mid] = serializeCheckpoint({ ...c, head_hash: 'ab'.repeat(32) });
    writeFileSync(file, `${lines.join('\n')}\n`);
    const r = await verify(server.databaseUrl, '--checkpoints', file);
    expect(r.code).toBe(1);
    expect(findings(r.out)).toEqual([`${c.seq} checkpoint_bad_signature`]);
    expect(r.out).toMatch(/checkpoint_signature: checkpoint_bad_signature: .*Ed25519 signature does not verify/);
  });

  it('a checkpoint file of another ledger (same key, other ledger_id): refused as a whole, exit 2', async () => {
    const key = await loadOrCreateSigningKey(join(server.workDir, 'certs', 'ledger-signing.key'));
    const other = '0b9e3c1a-2f4d-4e5b-8c6d-7e8f9a0b1c2d';
    const file = join(server.workDir, 'foreign.jsonl');
    writeFileSync(file, checkpoints.map((c) => `${serializeCheckpoint(signCheckpoint({ ...c, ledger_id: other }, key))}\n`).join(''));
    const r = await verify(server.databaseUrl, '--checkpoints', file);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/could not check the ledger/);
    expect(r.out).toContain(`foreign.jsonl holds checkpoints of ledger ${other}`);
    expect(r.out).not.toMatch(/^(intact|tampered)/m);
    // The genuine file still verifies.
    copyFileSync(checkpointFile, join(server.workDir, 'genuine.jsonl'));
    expect((await verify(server.databaseUrl, '--checkpoints', join(server.workDir, 'genuine.jsonl'))).code).toBe(0);
  });
});
