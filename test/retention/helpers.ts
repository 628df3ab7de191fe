/**
 * Test support for retention: a fresh database with every migration, a signing key and checkpoint
 * file in a temp folder, ledger rows written by the real writer and signed by the real checkpointer
 * at chosen receive times, and the CLI run in-process with its output captured.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { vi } from 'vitest';
import { runCli } from '../../src/cli/index.js';
import { migrate } from '../../src/db/migrate.js';
import { Checkpointer } from '../../src/checkpoints/checkpointer.js';
import { loadOrCreateSigningKey, type SigningKey } from '../../src/checkpoints/signing.js';
import type { LedgerRecord } from '../../src/ledger/types.js';
import { LedgerWriter } from '../../src/ledger/writer.js';
import { Metrics } from '../../src/metrics/registry.js';
import { liftColumns } from '../../src/normalize/columns.js';
import type { OcsfEvent } from '../../src/normalize/types.js';
import type { SyslogFields } from '../../src/parsing/types.js';
import { createTestDatabase } from '../helpers/db.js';

export interface RetentionEnv {
  readonly url: string;
  readonly pool: pg.Pool;
  readonly dir: string;
  readonly key: SigningKey;
  readonly keyFile: string;
  readonly pubFile: string;
  readonly checkpointFile: string;
  readonly archiveDir: string;
  cleanup(): Promise<void>;
}

export async function createEnv(prefix = 'sl_retention'): Promise<RetentionEnv> {
  const db = await createTestDatabase(prefix);
  await migrate(db.url);
  const dir = await mkdtemp(join(tmpdir(), 'sl-retention-'));
  const keyFile = join(dir, 'ledger-signing.key');
  const key = await loadOrCreateSigningKey(keyFile);
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  return {
    url: db.url,
    pool,
    dir,
    key,
    keyFile,
    pubFile: `${keyFile}.pub`,
    checkpointFile: join(dir, 'checkpoints.jsonl'),
    archiveDir: join(dir, 'archive'),
    cleanup: async () => {
      await pool.end();
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export const KINDS = ['plain', 'auth', 'debug', 'binary', 'truncated', 'ipv6'] as const;
export type Kind = (typeof KINDS)[number];

/** A realistic record of one of several shapes (raw bytes that are not UTF-8 included), at `us`. */
export function record(i: number, us: number, kind: Kind = KINDS[i % KINDS.length]!): LedgerRecord {
  const ms = Math.floor(us / 1000);
  const time_dt = `${new Date(ms).toISOString().slice(0, 19)}.${String(us % 1_000_000).padStart(6, '0')}Z`;
  const auth = kind === 'auth';
  const event: OcsfEvent = {
    class_uid: auth ? 3002 : 0,
    category_uid: auth ? 3 : 0,
    activity_id: auth ? 1 : 0,
    type_uid: auth ? 300201 : 0,
    severity_id: kind === 'debug' ? 1 : 2,
    status_id: auth ? (i % 2 ? 1 : 2) : 0,
    time: ms,
    time_dt,
    metadata: { version: '1.3.0', log_provider: auth ? 'sshd' : 'app' },
    message: `event ${i} (${kind}) ünïcødé ✓`,
    device: { hostname: `host${i % 3}` },
    ...(auth ? { user: { name: `user${i}` }, src_endpoint: { ip: '203.0.113.7' } } : {}),
    ...(kind === 'ipv6' ? { src_endpoint: { ip: '2001:db8::1' }, actor: { user: { name: 'root' } } } : {}),
  };
  const syslog: SyslogFields = {
    facility: auth ? 4 : 1,
    severity: kind === 'debug' ? 7 : 6,
    timestamp: time_dt,
    hostname: `host${i % 3}`,
    app_name: auth ? 'sshd' : 'app',
    procid: String(1000 + i),
    msgid: null,
    structured_data: i % 5 === 0 ? { 'meta@32473': { sequenceId: String(i) } } : null,
    message: `event ${i}`,
  };
  const raw =
    kind === 'binary'
      ? Buffer.concat([Buffer.from(`<14>1 - host app - - - bad ${i} `), Buffer.from([0xff, 0x00, 0x80, 0x0a, 0x09, 0x5c])])
      : Buffer.from(`<${auth ? 38 : 14}>1 ${time_dt} host${i % 3} app ${1000 + i} - - event ${i}`);
  return {
    receivedAtUs: us,
    peer: { cn: `host${i % 3}.example`, sans: [`DNS:host${i % 3}.example`, 'IP:192.0.2.9'], subject: 'CN=x', fingerprint: '00', address: `192.0.2.${i % 200}:5${i % 1000}` },
    raw,
    truncated: kind === 'truncated',
    format: kind === 'binary' ? 'unparsed' : 'rfc5424',
    parseError: kind === 'binary' ? 'rfc5424: invalid UTF-8 at offset 30' : null,
    syslog,
    event,
    columns: liftColumns(event),
  };
}

/** Microseconds of a UTC time. */
export function us(iso: string): number {
  return Date.parse(iso) * 1000;
}

/**
 * Writes records to chains with the real writer, signed by the real checkpointer (which is closed
 * at the end, so every row is covered by a checkpoint).
 */
export async function writeChains(env: RetentionEnv, chains: Record<string, LedgerRecord[]>): Promise<void> {
  const log = pino({ level: 'silent' });
  const metrics = new Metrics({ defaultMetrics: false });
  const checkpointer = new Checkpointer({ key: env.key, file: env.checkpointFile, metrics, log });
  await checkpointer.init(env.pool, { chains: Object.keys(chains) });
  checkpointer.start();
  for (const [chain, records] of Object.entries(chains)) {
    const writer = new LedgerWriter({
      databaseUrl: env.url,
      chain,
      metrics,
      log,
      batchMaxEvents: 97,
      queueMaxEvents: 1_000_000,
      queueMaxBytes: 1 << 30,
      onCommitted: (rows) => checkpointer.onCommitted(chain, rows),
    });
    await writer.start();
    for (const r of records) writer.enqueue(r);
    await writer.close();
  }
  await checkpointer.close();
}

/** Runs a syslog-ledger command in-process; returns its exit code and everything it printed. */
export async function cli(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const capture = (...a: unknown[]): void => void lines.push(a.map(String).join(' '));
  const log = vi.spyOn(console, 'log').mockImplementation(capture);
  const err = vi.spyOn(console, 'error').mockImplementation(capture);
  try {
    const code = await runCli(args);
    return { code, out: lines.join('\n') };
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

/** Every column of the rows of a table, as text, for byte-for-byte comparison. */
export async function snapshotRows(db: pg.Pool | pg.Client, from: string, where = 'true'): Promise<Array<Record<string, unknown>>> {
  const r = await db.query(
    `SELECT chain, seq, received_at::text AS received_at, peer_cn, peer_sans::text AS peer_sans, peer_addr, format,
            encode(raw, 'hex') AS raw, truncated, parse_error, syslog::text AS syslog, event::text AS event,
            event_time::text AS event_time, hostname, app_name, class_uid, activity_id, status_id, severity_id,
            user_name, actor_user, src_ip::text AS src_ip, encode(prev_hash, 'hex') AS prev_hash, encode(hash, 'hex') AS hash
       FROM ${from} WHERE ${where} ORDER BY chain, seq`,
  );
  return r.rows;
}
