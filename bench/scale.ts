/**
 * 1, 2 and 3 servers behind HAProxy (deploy/haproxy/haproxy.cfg, send-proxy-v2), one PostgreSQL, each
 * server its own chain: the same load (bench/load.ts, several mTLS connections through the balancer)
 * from the first byte sent to the last row committed, with the CPU the servers and PostgreSQL
 * backends used per event and the ledger's bytes per event. On a shared 2-core machine this does
 * not scale (the servers, PostgreSQL, HAProxy and the load share the cores); the CPU per event is
 * what docs/operations.md's sizing table uses.
 */
import { createDevPki } from '../src/pki/devpki.js';
import { createBenchDatabase, withClient } from './lib/db.js';
import { findHaproxy, startHaproxy } from './lib/haproxy.js';
import { cpuSeconds, diff, snapshot } from './lib/proc.js';
import { startBenchServer, type BenchServer } from './lib/server.js';
import { prepareLoad, runLoad } from './load.js';
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ScaleRow {
  readonly servers: number;
  readonly frames: number;
  readonly connections: number;
  readonly seconds: number;
  readonly eventsPerSec: number;
  /** CPU of the serve processes, microseconds per event (all servers together). */
  readonly serverCpuUsPerEvent: number;
  /** CPU of the PostgreSQL backends of the bench database, microseconds per event. */
  readonly pgCpuUsPerEvent: number;
  /** Ledger bytes (partitions, indexes, TOAST) per event. */
  readonly ledgerBytesPerEvent: number;
  /** HAProxy CPU, microseconds per event. */
  readonly haproxyCpuUsPerEvent: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function benchScale(counts: readonly number[], frames: number, connections: number): Promise<ScaleRow[] | undefined> {
  const bin = findHaproxy();
  if (!bin) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'sl-bench-scale-'));
  const rows: ScaleRow[] = [];
  try {
    const pki = await createDevPki({ dir: join(dir, 'pki') });
    for (const n of counts) {
      const db = await createBenchDatabase();
      const servers: BenchServer[] = [];
      try {
        for (let i = 1; i <= n; i++) {
          servers.push(await startBenchServer({ databaseUrl: db.url, pki, chain: `s${i}`, args: ['--proxy-protocol', 'v2', '--trusted-proxy', '127.0.0.1/32', '--verify-interval', '0'] }));
        }
        const lb = await startHaproxy(bin, servers.map((s) => ({ tlsPort: s.port, metricsPort: s.metricsPort })));
        try {
          const load = prepareLoad({ port: lb.tlsPort, ca: readFileSync(pki.ca), cert: readFileSync(pki.client), key: readFileSync(pki.clientKey), connections, count: frames, framing: 'mixed' });
          const cpu0 = servers.map((s) => cpuSeconds(s.pid));
          const lb0 = cpuSeconds(lb.child.pid!);
          const snap0 = snapshot(undefined, db.name);
          const result = await runLoad(load);
          let committed = 0;
          for (;;) {
            committed = await withClient(db.url, async (c) => Number((await c.query<{ n: string }>("SELECT coalesce(sum(head_seq), 0)::text AS n FROM chains WHERE chain LIKE 's%'")).rows[0]!.n));
            if (committed >= frames) break;
            await sleep(20);
          }
          const tDone = performance.timeOrigin + performance.now();
          const serverCpu = servers.reduce((a, s, i) => a + cpuSeconds(s.pid) - cpu0[i]!, 0);
          const pgCpu = diff(snap0, snapshot(undefined, db.name)).pg_backends;
          const lbCpu = cpuSeconds(lb.child.pid!) - lb0;
          const bytes = await withClient(db.url, async (c) => Number((await c.query<{ b: string }>("SELECT sum(pg_total_relation_size(inhrelid))::text AS b FROM pg_inherits WHERE inhparent = 'ledger'::regclass")).rows[0]!.b));
          const seconds = (tDone - result.t0Ms) / 1000;
          rows.push({
            servers: n,
            frames,
            connections,
            seconds: Math.round(seconds * 100) / 100,
            eventsPerSec: Math.round(frames / seconds),
            serverCpuUsPerEvent: Math.round((serverCpu / frames) * 1e7) / 10,
            pgCpuUsPerEvent: Math.round((pgCpu / frames) * 1e7) / 10,
            ledgerBytesPerEvent: Math.round(bytes / frames),
            haproxyCpuUsPerEvent: Math.round((lbCpu / frames) * 1e7) / 10,
          });
        } finally {
          await lb.stop();
        }
      } finally {
        for (const s of servers) await s.stop();
        await db.drop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export function scaleTable(rows: readonly ScaleRow[]): string {
  const head = '| servers | events/s | server CPU µs/event | PostgreSQL CPU µs/event | HAProxy CPU µs/event | ledger bytes/event |';
  const lines = rows.map((r) => `| ${r.servers} | ${r.eventsPerSec.toLocaleString('en-US')} | ${r.serverCpuUsPerEvent} | ${r.pgCpuUsPerEvent} | ${r.haproxyCpuUsPerEvent} | ${r.ledgerBytesPerEvent} |`);
  return [head, '|---|---|---|---|---|---|', ...lines].join('\n');
}
