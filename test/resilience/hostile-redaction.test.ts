/**
 * Frames built to make redaction slow (bench/lib/adversarial.ts), ~64 KiB each, streamed by one mTLS
 * client into a real server: the server keeps answering /healthz within 250 ms throughout, every
 * frame is stored, and no planted secret reaches the ledger. (The time per frame is asserted in
 * `npm run bench`, bench/redact.ts, not here.)
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLANTED, sampledBodies, withPlanted, wrap } from '../../bench/lib/adversarial.js';
import { query } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { connect, sendAndClose } from '../helpers/tls-client.js';
import { clientOf, sleep } from './load.js';

const HEALTHZ_MS = 250;

function healthz(port: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((res, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', timeout: 10_000 }, (r) => {
      r.resume();
      r.on('end', () => res(performance.now() - t0));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('healthz timed out')));
  });
}

describe('hostile frames against redaction, on a live server', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer();
  }, 120_000);
  afterAll(async () => {
    await server?.cleanup();
  });

  it('/healthz stays under 250 ms while adversarial 64 KiB frames stream in; all are stored, none leaks a secret', async () => {
    const frames: string[] = [];
    for (const body of sampledBodies(64 * 1024 - 1024, 4)) {
      for (const w of ['rfc5424', 'rfc3164', 'json', 'json-escaped'] as const) {
        const text = wrap(w, withPlanted(body.text));
        if (Buffer.byteLength(text) <= 65_000) frames.push(text);
      }
    }
    expect(frames.length).toBeGreaterThan(100);
    const wire = Buffer.concat(frames.map((f) => Buffer.from(`${Buffer.byteLength(f)} ${f}`)));

    // Warm the server's code paths first (a cold JIT is not what an attacker keeps hitting).
    const warm = await connect(server.port, clientOf(server));
    await sendAndClose(warm, `${Buffer.byteLength(frames[0]!)} ${frames[0]!}`);
    await sleep(500);

    const latencies: number[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        latencies.push(await healthz(server.metricsPort));
        await sleep(20);
      }
    })();
    const t0 = performance.now();
    const socket = await connect(server.port, clientOf(server));
    await sendAndClose(socket, wire);
    const expected = frames.length + 1;
    let stored = 0;
    for (let i = 0; i < 600 && stored < expected; i++) {
      stored = Number((await query<{ n: string }>(server.databaseUrl, 'SELECT count(*) AS n FROM ledger_rows WHERE seq > 0 AND (event->>\'class_uid\') IS NOT NULL'))[0]!.n);
      if (stored < expected) await sleep(100);
    }
    polling = false;
    await poller;
    const seconds = (performance.now() - t0) / 1000;
    const worst = Math.max(...latencies);
    console.log(`[hostile-redaction] ${frames.length} frames (${(wire.length / 1048576).toFixed(1)} MiB) in ${seconds.toFixed(1)} s; /healthz ${latencies.length} polls, worst ${worst.toFixed(0)} ms`);
    expect(stored).toBeGreaterThanOrEqual(expected);
    expect(latencies.length).toBeGreaterThan(5);
    expect(worst).toBeLessThan(HEALTHZ_MS);

    const leaks: string[] = [];
    for (const p of PLANTED) {
      const rows = await query<{ n: string }>(
        server.databaseUrl,
        `SELECT count(*) AS n FROM ledger_rows WHERE position(convert_to($1, 'UTF8') IN raw) > 0 OR strpos(event::text, $1) > 0 OR strpos(syslog::text, $1) > 0`,
        [p.marker],
      );
      if (Number(rows[0]!.n) > 0) leaks.push(`${p.rule}: ${rows[0]!.n} rows`);
    }
    expect(leaks).toEqual([]);
  }, 300_000);
});
