/**
 * Evidence packages end to end (docs/evidence.md): three hosts send over mTLS to the real serve; a
 * filtered export (one host) and a complete export (a time range) verify offline with the ledger's
 * public key, and stop verifying after each kind of tampering; each export is on the record.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalRowOfLine, v3LineHash, type EvidenceLine } from '../../src/evidence/format.js';
import { canonicalJson, chainHash, type CanonicalRow } from '../../src/ledger/canonical.js';
import { query } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { connect, sendAndClose, waitFor } from '../helpers/tls-client.js';

const HOSTS = ['web1', 'web2', 'web3'] as const;
const PER_HOST = 40;
let server: RunningServer;
let pub: string;

function frames(host: string): string {
  let s = '';
  for (let i = 0; i < PER_HOST; i++) {
    const msg = `<86>1 2026-12-06T10:${String(i).padStart(2, '0')}:00.000001Z ${host} sshd 42 - - Failed password for alice from 192.0.2.${i + 1} port 22 ssh2`;
    s += `${Buffer.byteLength(msg)} ${msg}`;
  }
  return s;
}

async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return server.cli(args);
}

async function verifyPkg(dir: string, key = pub): Promise<{ code: number | null; out: string }> {
  const r = await cli(['verify-evidence', dir, '--public-key', key]);
  return { code: r.code, out: r.stdout + r.stderr };
}

/** A copy of a package with events.jsonl changed by `edit` (its lines, without the final LF). */
function tampered(dir: string, name: string, edit: (lines: string[]) => string[]): string {
  const copy = join(server.workDir, name);
  cpSync(dir, copy, { recursive: true });
  const file = join(copy, 'events.jsonl');
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  writeFileSync(file, `${edit(lines).join('\n')}\n`);
  return copy;
}

beforeAll(async () => {
  server = await startServer({ clients: HOSTS.map((cn) => ({ cn })) });
  pub = join(server.workDir, 'certs', 'ledger-signing.key.pub');
  const sockets = await Promise.all(server.pki.clients.map((c) => connect(server.port, { cert: c.cert, key: c.key, ca: server.pki.ca })));
  await Promise.all(sockets.map((s, i) => sendAndClose(s, frames(HOSTS[i]!))));
  await waitFor(async () => (await query<{ n: string }>(server.databaseUrl, 'SELECT count(*) AS n FROM ledger'))[0]!.n === String(3 * PER_HOST));
}, 120_000);
afterAll(async () => {
  await server?.cleanup();
});

describe('export / verify-evidence', () => {
  let filtered: string;
  let complete: string;

  it('export: a filtered export of one host and a complete export of a time range verify offline (exit 0)', async () => {
    filtered = join(server.workDir, 'pkg-web2');
    const a = await cli(['export', '--out', filtered, '--host', 'web2', '--from', '2026-12-06T00:00:00Z', '--to', '2026-12-07', '--reason', 'ticket SEC-1']);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/filtered export, 40 matching rows/);
    complete = join(server.workDir, 'pkg-all');
    const b = await cli(['export', '--out', complete, '--from', '2026-12-06T10:05:00Z', '--to', '2026-12-06T10:30:00Z', '--reason', 'audit']);
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/complete export, 75 matching rows/);

    const manifest = JSON.parse(readFileSync(join(filtered, 'manifest.json'), 'utf8')) as Record<string, any>;
    expect(manifest.mode).toBe('filtered');
    expect(manifest.counts.matching).toBe(40);
    expect(manifest.query).toMatchObject({ host: 'web2', from: '2026-12-06T00:00:00.000Z', to: '2026-12-07T00:00:00.000Z', by: 'event' });
    expect(manifest.exported_by.reason).toBe('ticket SEC-1');
    const lines = readFileSync(join(filtered, 'events.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    expect(lines).toHaveLength(40);
    expect(lines.every((l) => l.event.device.hostname === 'web2' && typeof l.event.raw_data === 'string')).toBe(true);
    expect(readFileSync(join(filtered, 'events.csv'), 'utf8').trimEnd().split('\r\n')).toHaveLength(41);

    const all = JSON.parse(readFileSync(join(complete, 'manifest.json'), 'utf8')) as Record<string, any>;
    expect(all.mode).toBe('complete');
    expect(all.counts.runs).toBe(1);

    // Nothing matching is a statement too: a signed count of 0.
    const empty = join(server.workDir, 'pkg-empty');
    const z = await cli(['export', '--out', empty, '--host', 'no-such-host']);
    expect(z.stdout).toMatch(/filtered export, 0 matching rows/);
    for (const dir of [filtered, complete, empty]) {
      const v = await verifyPkg(dir);
      expect(v.out).toMatch(/^intact: /);
      expect(v.code).toBe(0);
    }
  }, 120_000);

  it('verify-evidence: exits 1 after one character changed, a line deleted, two swapped, one added, the manifest edited', async () => {
    const cases: Array<[string, string]> = [
      ['char', tampered(complete, 't-char', (l) => l.map((x, i) => (i === 7 ? x.replace('alice', 'alicf') : x)))],
      ['deleted', tampered(complete, 't-del', (l) => l.filter((_, i) => i !== 10))],
      ['swapped', tampered(complete, 't-swap', (l) => l.map((x, i) => (i === 3 ? l[4]! : i === 4 ? l[3]! : x)))],
      ['added', tampered(filtered, 't-add', (l) => [...l.slice(0, 5), l[5]!, ...l.slice(5)])],
    ];
    const manifestEdited = join(server.workDir, 't-manifest');
    cpSync(complete, manifestEdited, { recursive: true });
    const mf = join(manifestEdited, 'manifest.json');
    writeFileSync(mf, readFileSync(mf, 'utf8').replace('"reason": "audit"', '"reason": "audiT"'));
    cases.push(['manifest', manifestEdited]);
    for (const [what, dir] of cases) {
      const v = await verifyPkg(dir);
      expect(v.code, `${what}: ${v.out}`).toBe(1);
      expect(v.out).toMatch(/^TAMPERED/);
      if (what === 'char') expect(v.out).toMatch(/events\.jsonl:8 \(chain "test-chain" seq \d+\): the event does not hash/);
      if (what === 'manifest') expect(v.out).toMatch(/manifest\.json: the signature does not verify/);
    }
  }, 120_000);

  it('verify-evidence: a changed event whose hashes were all recomputed (no key needed for that) fails its run\'s proof', async () => {
    const dir = tampered(complete, 't-rechained', (lines) => {
      const out: string[] = [];
      let prev: string | undefined;
      for (const [i, text] of lines.entries()) {
        const line = JSON.parse(text) as EvidenceLine;
        if (i === 7) {
          // Format v3: the row's stored OCSF part (or its whole event) and the event shown, both edited.
          const ev = line.event as { message: string };
          ev.message += ' (edited)';
          const row = line.leaf.row!;
          if (row.ocsf !== null) row.ocsf = canonicalJson({ ...(JSON.parse(row.ocsf as string) as object), message: ev.message });
          else row.event = canonicalJson(ev);
        }
        if (prev !== undefined) line.leaf.prev_hash = prev;
        line.leaf.hash = line.leaf.v === 3 ? (v3LineHash(line) as Buffer).toString('hex') : chainHash(Buffer.from(line.leaf.prev_hash, 'hex'), canonicalRowOfLine(line) as CanonicalRow).toString('hex');
        prev = line.leaf.hash;
        out.push(JSON.stringify(line));
      }
      return out;
    });
    const v = await verifyPkg(dir);
    expect(v.code).toBe(1);
    expect(v.out).not.toMatch(/does not hash to its leaf hash/);
    expect(v.out).toMatch(/the events do not lead to the root signed at tree size/);
  });

  it('verify-evidence: exits 2 with a key other than the ledger\'s, and for a folder that is not a package', async () => {
    const other = join(server.workDir, 'other.pub');
    writeFileSync(other, generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }) as string);
    const v = await verifyPkg(complete, other);
    expect(v.code).toBe(2);
    expect(v.out).toMatch(/not by the trusted key/);
    expect((await verifyPkg(join(server.workDir, 'certs'))).code).toBe(2);
  });

  it('export: every export is an API Activity (6003) record of the access chain, with its package digest', async () => {
    const rows = await query<{ seq: string; class_uid: number; actor_user: string; event: string }>(
      server.databaseUrl,
      "SELECT seq, class_uid, actor_user, event::text AS event FROM ledger WHERE chain = 'syslog-ledger.access' ORDER BY seq",
    );
    expect(rows.length).toBeGreaterThanOrEqual(2);
    const events = rows.map((r) => JSON.parse(r.event) as Record<string, any>);
    const sha = (dir: string): string => createHash('sha256').update(readFileSync(join(dir, 'manifest.json'))).digest('hex');
    for (const dir of [filtered, complete]) {
      const ev = events.find((e) => e.unmapped.access.package?.manifest_sha256 === sha(dir));
      expect(ev, dir).toBeDefined();
      expect(ev).toMatchObject({ class_uid: 6003, activity_id: 2, api: { operation: 'export' } });
    }
    expect(events.find((e) => e.unmapped.access.package?.dir === filtered)?.unmapped.access).toMatchObject({ rows: 40, mode: 'filtered', query: { host: 'web2' } });
    expect(rows.every((r) => r.class_uid === 6003 && r.actor_user.length > 0)).toBe(true);
    // The access chain is signed like any other: the whole ledger verifies with the checkpoint file.
    const v = await cli(['verify']);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  }, 120_000);

  it('export: refuses an existing folder and leaves nothing behind when it cannot complete', async () => {
    const r = await cli(['export', '--out', complete]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already exists/);
    const bad = await cli(['export', '--out', join(server.workDir, 'pkg-nokey'), '--signing-key', join(server.workDir, 'missing.key')]);
    expect(bad.code).toBe(2);
    // A row changed in the database: the export stops, names it, and leaves no folder, partial or not.
    const before = await query<{ n: string }>(server.databaseUrl, "SELECT count(*) AS n FROM ledger WHERE chain = 'syslog-ledger.access'");
    const c = new pg.Client({ connectionString: server.databaseUrl });
    await c.connect();
    try {
      await c.query('ALTER TABLE ledger DISABLE TRIGGER USER');
      await c.query("UPDATE ledger SET raw = convert_to('forged', 'UTF8') WHERE chain = 'test-chain' AND seq = 20");
      await c.query('ALTER TABLE ledger ENABLE TRIGGER USER');
    } finally {
      await c.end();
    }
    const broken = await cli(['export', '--out', join(server.workDir, 'pkg-broken')]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/FAILED, no package written: chain "test-chain" seq 20 does not match its stored hash/);
    expect(readdirSync(server.workDir).filter((f) => f.includes('pkg-broken') || f.includes('partial'))).toEqual([]);
    // No package, no access record.
    expect(await query<{ n: string }>(server.databaseUrl, "SELECT count(*) AS n FROM ledger WHERE chain = 'syslog-ledger.access'")).toEqual(before);
  }, 60_000);
});
