/**
 * One interop run: a real client configured from a published deploy/clients file, N lines
 * written into its input file, and the ledger read back. Optionally the syslog-ledger server is
 * restarted (SIGTERM, graceful) while the lines are flowing, to measure what plain TCP syslog
 * loses or duplicates around a restart.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { issueCert } from '../../../src/pki/devpki.js';
import type { RunningServer } from '../../helpers/server.js';
import type { ClientProcess } from './clients.js';
import { renderClientConfig, type ClientConfigName } from './configs.js';
import { ranges, rowsOfRun, tally, waitForRun, type LedgerRow, type Tally } from './ledger.js';
import { writeLines } from './lines.js';

/** Folder layout of one client under test. */
export interface ClientSetup {
  readonly dir: string;
  /** The file the client reads (imfile / file() source). */
  readonly input: string;
  /** The stand-in for /var/log/auth.log (rsyslog configs). */
  readonly authInput: string;
  /** ca.pem, client.pem, client-key.pem for this client. */
  readonly certDir: string;
  /** The published drop-in with the documented values replaced. */
  readonly dropIn: string;
  readonly cn: string;
}

/**
 * Issues a client certificate `cn` from the server's CA into `<dir>/tls`, creates the empty
 * input file and renders the published config `name` for them.
 */
export async function prepareClient(server: RunningServer, name: ClientConfigName, dir: string, cn: string): Promise<ClientSetup> {
  const certDir = join(dir, 'tls');
  const input = join(dir, 'app', 'audit.log');
  await mkdir(certDir, { recursive: true });
  await mkdir(join(dir, 'app'), { recursive: true });
  await mkdir(join(dir, 'buffer'), { recursive: true });
  await issueCert({ dir: server.pkiDir, cn, sans: [cn], out: join(certDir, 'client') });
  await copyFile(join(server.pkiDir, 'ca.pem'), join(certDir, 'ca.pem'));
  const authInput = join(dir, 'auth.log');
  await writeFile(input, '');
  await writeFile(authInput, '');
  const dropIn = renderClientConfig(name, { target: 'localhost', port: server.port, certDir, input, authInput, spoolDir: join(dir, 'buffer') });
  return { dir, input, authInput, certDir, dropIn, cn };
}

export interface RunOptions {
  /** Lines per append. */
  readonly batch?: number;
  /** Pause between appends. */
  readonly pauseMs?: number;
  /** Restart the server after this many lines have been written. */
  readonly restartAfter?: number;
  /** Give up when nothing new arrived for this long (must exceed the client's reconnect delay). */
  readonly idleMs?: number;
  readonly timeoutMs?: number;
}

export interface RunResult {
  readonly runId: string;
  readonly rows: LedgerRow[];
  readonly tally: Tally;
  /** From the first append until N rows were in the ledger (null if never). */
  readonly deliveredMs: number | null;
  readonly writeMs: number;
  /** Restart: how long the server was down, and when the first row after it arrived. */
  readonly restart?: { readonly downMs: number; readonly resumedAfterMs: number | null };
  /** Short human-readable result line for the report. */
  readonly summary: string;
}

/** Writes `lines` into the client's input, waits for the ledger, tallies. */
export async function runLines(server: RunningServer, client: ClientSetup, proc: ClientProcess, run: string, lines: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const t0 = Date.now();
  let restartPromise: Promise<{ downMs: number; upAt: number }> | undefined;
  await writeLines(client.input, lines, {
    batch: opts.batch ?? 1000,
    pauseMs: opts.pauseMs ?? 0,
    onBatch: (written) => {
      if (opts.restartAfter !== undefined && !restartPromise && written >= opts.restartAfter) {
        const t = Date.now();
        restartPromise = server.restart().then(() => ({ downMs: Date.now() - t, upAt: Date.now() }));
      }
    },
  });
  const writeMs = Date.now() - t0;
  const restarted = restartPromise ? await restartPromise : undefined;
  const waited = await waitForRun(server.databaseUrl, client.cn, run, lines.length, {
    idleMs: opts.idleMs ?? 20_000,
    timeoutMs: opts.timeoutMs ?? 150_000,
    ...(restarted ? { resumedAfter: new Date(restarted.upAt) } : {}),
  });
  const rows = await rowsOfRun(server.databaseUrl, client.cn, run);
  const t = tally(lines, rows.map((r) => r.message));
  let restart: RunResult['restart'];
  if (restarted) {
    const after = rows.find((r) => r.receivedAt.getTime() >= restarted.upAt);
    restart = { downMs: restarted.downMs, resumedAfterMs: after ? after.receivedAt.getTime() - restarted.upAt : null };
  }
  const deliveredMs = waited.reachedAfterMs === null ? null : writeMs + waited.reachedAfterMs;
  const summary =
    `${proc.name}: wrote ${lines.length} lines in ${writeMs} ms; ledger has ${t.received} ` +
    `(${deliveredMs === null ? 'never reached N' : `all in ${deliveredMs} ms`}); ` +
    `missing ${t.missing.length}${t.missing.length ? ` [${ranges(t.missing).slice(0, 200)}]` : ''}, ` +
    `duplicates ${t.duplicates}${t.duplicated.length ? ` [${ranges(t.duplicated).slice(0, 200)}]` : ''}, ` +
    `out of order ${t.outOfOrder}, unknown ${t.unknown.length}` +
    (restart ? `; server restart took ${restart.downMs} ms, first row after it ${restart.resumedAfterMs ?? 'never'} ms later` : '');
  return { runId: run, rows, tally: t, deliveredMs, writeMs, ...(restart ? { restart } : {}), summary };
}
