import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/server.js';

describe('command line', () => {
  it('a bad option value stops serve with a message naming the option', async () => {
    const r = await runCli(['serve', '--listen', '6514', '--database-url', 'postgres://127.0.0.1:1/none']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--listen');
    expect(r.stderr).toContain('HOST:PORT');
  });

  it('the finding cap and summary interval are validated like the others', async () => {
    for (const [option, value, says] of [
      ['--max-findings-per-minute', '0', 'between 1 and'],
      ['--max-findings-per-minute', 'many', 'whole number'],
      ['--finding-summary-interval', 'soon', 'duration'],
      ['--finding-summary-interval', '10ms', 'at least 1000 ms'],
    ] as const) {
      const r = await runCli(['serve', option, value, '--database-url', 'postgres://127.0.0.1:1/none']);
      expect(r.code, `${option} ${value}`).toBe(2);
      expect(r.stderr).toContain(option);
      expect(r.stderr).toContain(says);
    }
  });

  it('an unknown option is named', async () => {
    const r = await runCli(['verify', '--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--no-such-flag');
  });

  it('environment equivalents are read, and flags win over them', async () => {
    const r = await runCli(['serve', '--database-url', 'postgres://127.0.0.1:1/none'], { env: { SYSLOG_LEDGER_MAX_FRAME_SIZE: 'lots' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--max-frame-size');
    const r2 = await runCli(['serve', '--listen', 'nope', '--database-url', 'postgres://127.0.0.1:1/none'], { env: { SYSLOG_LEDGER_LISTEN: '127.0.0.1:0' } });
    expect(r2.stderr).toContain('"nope"');
  });

  it('every command has --help', async () => {
    for (const cmd of ['serve', 'migrate', 'verify', 'parse', 'certs']) {
      const r = await runCli([cmd, '--help']);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toMatch(/Usage:\s+syslog-ledger/);
    }
  });

  it('an unknown command prints usage and exits 2', async () => {
    const r = await runCli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command');
  });

  it('a database that is not a ledger: "this database has no ledger; run `syslog-ledger migrate`", not a missing relation', async () => {
    const db = await createTestDatabase('sl_noledger');
    try {
      const env = { DATABASE_URL: db.url };
      for (const args of [['verify', '--no-checkpoints'], ['prove', '--seq', '1'], ['prove', '--chain', 'web1', '--seq', '1']]) {
        const r = await runCli(args, { env });
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr, args.join(' ')).toContain('this database has no ledger; run `syslog-ledger migrate`');
      }
    } finally {
      await db.drop();
    }
  });

  it('certs prints, for each server name, the rsyslog target / permitted peer that matches (and that IP SANs do not)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'syslog-ledger-certs-'));
    try {
      const r = await runCli(['certs', '--out', dir, '--server-name', 'logs.example.com', '--server-name', '192.0.2.10']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('rsyslog: target="localhost" (or, with another target, StreamDriverPermittedPeers="localhost")');
      expect(r.stdout).toContain('rsyslog: target="logs.example.com"');
      expect(r.stdout).toMatch(/192\.0\.2\.10 +IP address: rsyslog's x509\/name ignores it \(target="192\.0\.2\.10" is refused\)/);
      const server = await runCli(['certs', '--issue', 'ledger2.example.com', '--server', '--ca-dir', dir, '--out', join(dir, 'issued')]);
      expect(server.code, server.stderr).toBe(0);
      expect(server.stdout).toContain('rsyslog: target="ledger2.example.com"');
      expect(await readFile(join(dir, 'issued', 'ledger2.example.com.pem'), 'utf8')).toContain('BEGIN CERTIFICATE');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
