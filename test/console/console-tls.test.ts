/**
 * The console over HTTPS with client certificates (docs/console.md "Logging in"): a non-loopback
 * console with --console-allow starts; a certificate from serve's CA named in --console-allow gets
 * in and its reads are recorded under its name; one the CA signed but not allowed gets 401; no
 * certificate gets no TLS session; the token does not replace the certificate; forms need their
 * CSRF token.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';

let server: RunningServer;
let port: number;
let tokenFile: string;
const TOKEN = 'tls-console-token-0123456789abcdef';

function get(path: string, client: 'auditor' | 'web1' | null, o: { method?: string; body?: string } = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const c = client === null ? undefined : server.pki.clients.find((x) => x.cn === client)!;
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: o.method ?? 'GET',
        servername: 'localhost',
        ca: readFileSync(server.pki.ca),
        ...(c ? { cert: readFileSync(c.cert), key: readFileSync(c.key) } : {}),
        headers: o.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {},
        agent: false,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

beforeAll(async () => {
  tokenFile = join(tmpdir(), `sl-console-tls-token-${process.pid}`);
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  server = await startServer({
    clients: [{ cn: 'auditor' }, { cn: 'web1' }],
    args: ['--console', '0.0.0.0:0', '--console-allow', 'auditor', '--console-token-file', tokenFile, '--console-request-timeout', '2s'],
  });
  const serving = server.logs.find((l) => l.msg === 'syslog-ledger serving')!;
  port = Number(String(serving.console).split(':').pop());
}, 120_000);
afterAll(async () => {
  await server?.cleanup();
  if (tokenFile) rmSync(tokenFile, { force: true });
});

describe('console over HTTPS', () => {
  it('https: an allowed client certificate gets in, and its search is recorded under its name', async () => {
    const r = await get('/', 'auditor');
    expect(r.status).toBe(200);
    expect(r.body).toContain('<h1>Integrity</h1>');
    expect(r.headers['content-security-policy']).toMatch(/script-src|default-src 'none'/);
    const s = await get('/search?host=web1&from=1h', 'auditor');
    expect(s.status).toBe(200);
    expect(s.body).toContain('data-total="0"');
    const rows = await query<{ actor_user: string; auth: string }>(
      server.databaseUrl,
      "SELECT actor_user, event->'unmapped'->'access'->'console'->>'auth' AS auth FROM ledger WHERE chain = 'syslog-ledger.access' AND class_uid = 6003",
    );
    expect(rows).toEqual([{ actor_user: 'auditor', auth: 'certificate' }]);
  });

  it('https: a certificate of the CA that --console-allow does not name gets 401 and no ledger data', async () => {
    const r = await get('/search?host=web1', 'web1');
    expect(r.status).toBe(401);
    expect(r.body).not.toContain('test-chain');
    expect(r.body).toContain('--console-allow');
  });

  it('https: no client certificate, no TLS session; the token does not replace the certificate', async () => {
    await expect(get('/', null)).rejects.toThrow();
    const r = await get(`/login?token=${TOKEN}`, 'web1');
    expect(r.status).toBe(401);
    expect(r.headers['set-cookie']).toBeUndefined();
  });

  it('https: a POST without the form\'s CSRF token is refused (403), nothing exported', async () => {
    const r = await get('/export', 'auditor', { method: 'POST', body: 'host=web1&reason=x' });
    expect(r.status).toBe(403);
    const n = await query<{ n: string }>(server.databaseUrl, "SELECT count(*) AS n FROM ledger WHERE chain = 'syslog-ledger.access' AND event->'api'->>'operation' = 'export'");
    expect(n[0]!.n).toBe('0');
  });

  it('https: a search that cannot finish within --console-request-timeout is stopped with 503 and a reason, and nothing is recorded', async () => {
    const before = await query<{ n: string }>(server.databaseUrl, "SELECT count(*) AS n FROM ledger WHERE chain = 'syslog-ledger.access'");
    const locker = new pg.Client({ connectionString: server.databaseUrl });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE ledger IN ACCESS EXCLUSIVE MODE');
      const t0 = Date.now();
      const r = await get('/search?host=web1&from=1h', 'auditor');
      expect(r.status).toBe(503);
      expect(r.body).toMatch(/longer than 2 s/);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
    const after = await query<{ n: string }>(server.databaseUrl, "SELECT count(*) AS n FROM ledger WHERE chain = 'syslog-ledger.access'");
    expect(after[0]!.n).toBe(before[0]!.n);
  });
});
