import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { embeddedPasswordFile, startEmbeddedPostgres, type EmbeddedServer } from '../../src/db/embedded.js';
import { createDevPki } from '../../src/pki/devpki.js';
import { MAIN } from '../helpers/server.js';

const dirs: string[] = [];
const servers: EmbeddedServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'syslog-ledger-cred-'));
  dirs.push(d);
  return d;
}

function passwordOf(dataDir: string): string {
  const line = readFileSync(embeddedPasswordFile(dataDir), 'utf8').trim();
  return line.split(':')[4]!;
}

async function canConnect(port: number, password: string): Promise<boolean> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres', connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

describe('no fixed database password anywhere', () => {
  it('docker-compose.yml takes the password from the environment and writes none', () => {
    const compose = readFileSync(join(import.meta.dirname, '../../docker-compose.yml'), 'utf8');
    expect(compose).toMatch(/POSTGRES_PASSWORD: \$\{POSTGRES_PASSWORD:\?/);
    expect(compose).not.toMatch(/postgres:\/\/[^:@\s]+:(?!\$\{)[^@\s]+@/);
    expect(compose).not.toContain('syslog-ledger@');
  });
});

describe('embedded PostgreSQL credentials', () => {
  it('each cluster gets its own generated password, kept only in a 0600 libpq password file', async () => {
    const a = join(tmp(), 'postgres');
    const b = join(tmp(), 'postgres');
    const sa = await startEmbeddedPostgres({ dataDir: a, port: 0 });
    servers.push(sa);
    const sb = await startEmbeddedPostgres({ dataDir: b, port: 0 });
    servers.push(sb);
    expect(statSync(embeddedPasswordFile(a)).mode & 0o777).toBe(0o600);
    expect(passwordOf(a)).not.toBe(passwordOf(b));
    expect(passwordOf(a).length).toBeGreaterThanOrEqual(24);
    expect(await canConnect(sa.port, passwordOf(a))).toBe(true);
    expect(await canConnect(sa.port, 'syslog-ledger')).toBe(false);
    expect(await canConnect(sa.port, passwordOf(b))).toBe(false);
    await sb.stop();
  }, 120_000);

  it('a cluster made with the old fixed password gets its own at its next start', async () => {
    const dir = join(tmp(), 'postgres');
    let s = await startEmbeddedPostgres({ dataDir: dir, port: 0 });
    const c = new pg.Client({ connectionString: s.url.replace(/\/[^/]*$/, '/postgres') });
    await c.connect();
    await c.query(`ALTER ROLE postgres PASSWORD 'syslog-ledger'`);
    await c.end();
    await s.stop();
    unlinkSync(embeddedPasswordFile(dir));
    s = await startEmbeddedPostgres({ dataDir: dir, port: 0 });
    servers.push(s);
    expect(passwordOf(dir)).not.toBe('syslog-ledger');
    expect(await canConnect(s.port, passwordOf(dir))).toBe(true);
    expect(await canConnect(s.port, 'syslog-ledger')).toBe(false);
  }, 120_000);

  it('serve on the embedded database: no log line or message holds the password', async () => {
    const work = tmp();
    chmodSync(work, 0o755); // as root, PostgreSQL runs as `postgres` and must reach ./data
    const pki = await createDevPki({ dir: join(work, 'certs'), clients: [{ cn: 'client1.example.com' }] });
    const env = { ...process.env };
    delete env.DATABASE_URL;
    delete env.TEST_DATABASE_URL;
    const child = spawn(process.execPath, [MAIN, 'serve', '--data-dir', join(work, 'data'), '--listen', '127.0.0.1:0', '--metrics', '127.0.0.1:0',
      '--tls-cert', pki.server, '--tls-key', pki.serverKey, '--tls-ca', pki.ca, '--chain', 'cred-test'], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<string>((res) => child.once('exit', (code, signal) => res(`${code} ${signal}`)));
    await new Promise<void>((res, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 90_000);
      void exited.then((how) => reject(new Error(`serve exited ${how}: ${err}`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        out += `${line}\n`;
        if (line.includes('"syslog-ledger serving"')) {
          clearTimeout(timer);
          res();
        }
      });
    });
    child.kill('SIGTERM');
    expect(await exited, err.slice(-3000)).toBe('0 null');
    const password = passwordOf(join(work, 'data', 'postgres'));
    expect(out + err).not.toContain(password);
    expect(out + err).not.toContain(encodeURIComponent(password));
    expect(err).toContain(`PGPASSFILE=${embeddedPasswordFile(join(work, 'data', 'postgres'))} psql 'postgres://postgres@127.0.0.1:`);
    expect(out).toContain('postgres://postgres:****@127.0.0.1:');
  }, 150_000);
});
