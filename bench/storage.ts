/**
 * Bytes on disk per event (issue 18): the database's growth over a run (every table, index, TOAST,
 * checkpoint and Merkle-node relation: pg_database_size after a CHECKPOINT), per event and as a
 * multiple of the raw frame, for three kinds of traffic:
 *   rfc5424   the anchors' sender frames (../shared/anchors/sender.js): RFC 5424, 200 bytes, no SD
 *   mix       the bench's mix (bench/lib/frames.ts, ~200 bytes: RFC 5424 with SD, sshd, sudo, JSON)
 *   auth.log  real Debian/Ubuntu auth.log lines (../shared/corpus/real, ~100 bytes), with a PRI
 * Written by the real LedgerWriter (COPY, v3 rows, one connection), in process: the bytes stored do
 * not depend on the transport. Beside each, rsyslog + ompgsql's bytes per event for the same frames:
 * its table (../shared/anchors/db-setup.sh `syslog_a`, what its `pgrow` template fills: receive
 * time, host, severity, facility, tag, message) filled with the same frames' fields in the same
 * database. That is the anchor's storage, not a run of rsyslogd (bench/anchors.sh, and
 * ../shared/anchors/bench-rsyslog.sh, run rsyslogd itself: 238 B/event in the issue's measurement).
 *
 *   node dist/bench/storage.js [count]          (also part of `npm run bench`: BENCH_ONLY=storage)
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { migrate } from '../src/db/migrate.js';
import { Framer } from '../src/framing/framer.js';
import type { Frame } from '../src/framing/framer.js';
import { copyText, isoMicros } from '../src/ledger/copy.js';
import { LedgerWriter } from '../src/ledger/writer.js';
import { Metrics } from '../src/metrics/registry.js';
import { toRecord } from '../src/stages.js';
import { createBenchDatabase, withClient } from './lib/db.js';
import { BENCH_PEER, mixFrames } from './stages.js';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';

const ROOT = resolve(import.meta.dirname, '../..');
const CORPUS = resolve(ROOT, '../shared/corpus/real');

export interface StorageResult {
  readonly kind: string;
  readonly events: number;
  /** Average raw frame, bytes (as stored in `raw`). */
  readonly rawBytes: number;
  /** Database growth per event, bytes. */
  readonly bytesPerEvent: number;
  readonly multiple: number;
  /** rsyslog + ompgsql's table, same frames: bytes per event and multiple of the raw frame. */
  readonly rsyslogBytesPerEvent: number;
  readonly rsyslogMultiple: number;
  /** Average row size of the ledger (pg_column_size of the whole row). */
  readonly avgRowBytes: number;
  /** Average bytes of the variable columns (raw, ocsf, sd, event) and how many rows store the whole event (`whole`). */
  readonly columnBytes: Record<string, number>;
  /** Bytes per event of each relation that grew (tables, indexes, TOAST). */
  readonly relations: Record<string, number>;
}

function frames(kind: string, n: number): Frame[] {
  if (kind === 'mix') return mixFrames(n, 11);
  if (kind === 'rfc5424') {
    const pad = 'x'.repeat(200);
    return Array.from({ length: n }, (_, i) => {
      const head = `<134>1 2024-05-01T12:00:00.000000Z client1.example.com benchapp 4242 ID47 - seq=${i} `;
      const m = Buffer.from(head + pad.slice(0, 200 - head.length));
      return { raw: m, body: m, truncated: false, framing: 'octet-counted' } as Frame;
    });
  }
  const files = ['wazuh-ruleset-linux-auth.log', 'loghub-OpenSSH_2k.log', 'beats-system-auth-test.log'].map((f) => join(CORPUS, f)).filter(existsSync);
  // Lines as auth.log has them (LF-terminated; loghub's copy has CRLF), cut by the real framer.
  const lines = files.flatMap((f) => readFileSync(f, 'utf8').split(/\r?\n/).filter((l) => l.length > 0));
  if (lines.length === 0) throw new Error(`no auth.log corpus at ${CORPUS}`);
  const framer = new Framer({ maxFrameBytes: 64 * 1024 });
  const text = Array.from({ length: n }, (_, i) => `<38>${lines[i % lines.length]}\n`).join('');
  return [...framer.push(Buffer.from(text, 'utf8')), ...framer.end()];
}

const dbSize = (c: pg.Client): Promise<number> => c.query<{ n: string }>('CHECKPOINT; SELECT pg_database_size(current_database()) AS n').then((r) => Number((r as unknown as Array<{ rows: Array<{ n: string }> }>)[1]!.rows[0]!.n));

async function relationSizes(c: pg.Client): Promise<Map<string, number>> {
  const r = await c.query<{ name: string; n: string }>(
    `SELECT c.relname AS name, pg_relation_size(c.oid) AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
      WHERE s.nspname NOT IN ('pg_catalog', 'information_schema') AND c.relkind IN ('r', 'i', 't', 'm')`,
  );
  return new Map(r.rows.map((x) => [x.name, Number(x.n)]));
}

/** One kind: a fresh database, n frames through toRecord and the writer, then the anchor's table. */
export async function storageRun(kind: string, n: number): Promise<StorageResult> {
  const db = await createBenchDatabase();
  try {
    await migrate(db.url);
    const metrics = new Metrics({ defaultMetrics: false });
    const fs = frames(kind, n);
    const t0 = Date.UTC(2026, 10, 28, 12, 0, 0) * 1000;
    const records = fs.map((f, i) => toRecord(f, BENCH_PEER, t0 + i * 20, { format: 'auto', timeZone: 'UTC' }, metrics));
    const rawBytes = records.reduce((a, r) => a + r.raw.length, 0) / n;
    return await withClient(db.url, async (c) => {
      const before = await dbSize(c);
      const rel0 = await relationSizes(c);
      const writer = new LedgerWriter({ databaseUrl: db.url, chain: `storage-${kind}`, metrics, log: pino({ level: 'silent' }), batchMaxEvents: 1000, queueMaxEvents: 1e9, queueMaxBytes: 2 ** 40 });
      await writer.start();
      for (let i = 0; i < records.length; i += 5000) {
        for (const r of records.slice(i, i + 5000)) writer.enqueue(r);
        while (writer.pendingEvents > 20_000) await new Promise((res) => setTimeout(res, 20));
      }
      await writer.close();
      const after = await dbSize(c);
      const rel1 = await relationSizes(c);
      const relations: Record<string, number> = {};
      for (const [k, v] of rel1) {
        const d = v - (rel0.get(k) ?? 0);
        if (d > 0) relations[k] = Math.round((d / n) * 10) / 10;
      }
      const avgRow = Number((await c.query<{ n: string }>('SELECT avg(pg_column_size(l.*)) AS n FROM ledger l')).rows[0]!.n);
      const cols = (await c.query<Record<string, string>>(
        `SELECT avg(pg_column_size(raw)) AS raw, avg(coalesce(pg_column_size(ocsf), 0)) AS ocsf, avg(coalesce(pg_column_size(sd), 0)) AS sd,
                avg(coalesce(pg_column_size(event), 0)) AS event, count(*) FILTER (WHERE event IS NOT NULL) AS whole FROM ledger`,
      )).rows[0]!;
      const columnBytes = Object.fromEntries(Object.entries(cols).map(([k, x]) => [k, Math.round(Number(x) * 10) / 10]));
      // rsyslog + ompgsql: its table, with the fields its template sends, for the same frames.
      await c.query(`CREATE TABLE syslog_a (id bigserial PRIMARY KEY, received_at timestamptz NOT NULL, host text, severity smallint, facility smallint, tag text, message text)`);
      const lines = records.map((r) => {
        const s = r.syslog;
        const tag = s.app_name ? `${s.app_name}${s.procid ? `[${s.procid}]` : ''}:` : '';
        return `${isoMicros(r.receivedAtUs)}\t${copyText(s.hostname)}\t${s.severity ?? '\\N'}\t${s.facility ?? '\\N'}\t${copyText(tag)}\t${copyText(s.message ?? '')}\n`;
      });
      const a0 = await dbSize(c);
      await pipeline(Readable.from([Buffer.from(lines.join(''))]), c.query(copyStreams.from('COPY syslog_a (received_at, host, severity, facility, tag, message) FROM STDIN')));
      const a1 = await dbSize(c);
      const per = (after - before) / n;
      const rs = (a1 - a0) / n;
      const round1 = (x: number): number => Math.round(x * 10) / 10;
      return {
        kind,
        events: n,
        rawBytes: round1(rawBytes),
        bytesPerEvent: round1(per),
        multiple: Math.round((per / rawBytes) * 100) / 100,
        rsyslogBytesPerEvent: round1(rs),
        rsyslogMultiple: Math.round((rs / rawBytes) * 100) / 100,
        avgRowBytes: round1(avgRow),
        columnBytes,
        relations,
      };
    });
  } finally {
    await db.drop();
  }
}

export const STORAGE_KINDS = ['rfc5424', 'mix', 'auth.log'] as const;

export function storageTable(rs: readonly StorageResult[]): string[] {
  const L = ['| bytes on disk per event (database growth, all relations) | raw B | ledger v3 B/event | x raw | rsyslog+ompgsql B/event | x raw | avg row B |', '|---|---|---|---|---|---|---|'];
  for (const r of rs) L.push(`| ${r.kind}, ${r.events} events | ${r.rawBytes} | ${r.bytesPerEvent} | ${r.multiple} | ${r.rsyslogBytesPerEvent} | ${r.rsyslogMultiple} | ${r.avgRowBytes} |`);
  return L;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const n = Number(process.argv[2] ?? process.env.BENCH_STORAGE_N ?? '100000');
  const out: StorageResult[] = [];
  for (const k of STORAGE_KINDS) {
    const r = await storageRun(k, n);
    out.push(r);
    console.error(`${k}: ${JSON.stringify(r)}`);
  }
  console.log(storageTable(out).join('\n'));
}
