/**
 * The incumbent measured beside us, in the same `npm run bench`: rsyslog imtcp + gtls (mTLS) ->
 * ompgsql into the same PostgreSQL, the same N RFC 5424 frames over one connection
 * (../shared/anchors/bench-rsyslog.sh pg octet node). A ratio against a figure of another day says
 * little: machines of this kind differ by up to 2.7x from one day to the next.
 *
 * BENCH_INCUMBENT: auto (default: when the anchors folder, rsyslogd and ompgsql are here), 1 (required:
 * an error when missing), 0 (never). ANCHORS_DIR: where the anchors are (default ../shared/anchors).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface IncumbentRun {
  readonly eventsPerSec: number;
  /** rsyslogd's own CPU seconds per 100,000 events. */
  readonly cpuPer100kRsyslogd: number;
  /** The whole line bench-rsyslog.sh printed for the run. */
  readonly line: string;
}

const RSYSLOG_PLUGINS = ['/usr/lib/x86_64-linux-gnu/rsyslog', '/usr/lib/aarch64-linux-gnu/rsyslog', '/usr/lib/rsyslog'];

/** Where bench-rsyslog.sh is, or why the incumbent cannot run here. */
export function incumbentScript(root: string): { script: string } | { missing: string } {
  const dir = resolve(process.env.ANCHORS_DIR ?? join(root, '../shared/anchors'));
  const script = join(dir, 'bench-rsyslog.sh');
  if (!existsSync(script)) return { missing: `no ${script} (set ANCHORS_DIR)` };
  if (!['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].some(existsSync)) return { missing: 'no rsyslogd (apt-get install rsyslog rsyslog-gnutls)' };
  const plugins = RSYSLOG_PLUGINS.find((d) => existsSync(join(d, 'lmnsd_gtls.so')) && existsSync(join(d, 'ompgsql.so')));
  if (plugins === undefined) return { missing: 'no rsyslog gtls or ompgsql module (apt-get install rsyslog-gnutls rsyslog-pgsql)' };
  return { script };
}

/** Whether to measure the incumbent (BENCH_INCUMBENT), and with which script; throws when required and missing. */
export function incumbentWanted(root: string): string | null {
  const mode = process.env.BENCH_INCUMBENT ?? 'auto';
  if (!['auto', '0', '1'].includes(mode)) throw new Error(`BENCH_INCUMBENT must be auto, 0 or 1, not ${mode}`);
  if (mode === '0') return null;
  const found = incumbentScript(root);
  if ('script' in found) return found.script;
  if (mode === '1') throw new Error(`BENCH_INCUMBENT=1: ${found.missing}`);
  return null;
}

/** One run of the incumbent with `n` frames; its state lives in a temporary folder, removed after. */
export async function runIncumbent(script: string, n: number, root: string): Promise<IncumbentRun> {
  const rundir = mkdtempSync(join(tmpdir(), 'syslog-ledger-incumbent-'));
  try {
    const out = await new Promise<string>((res, rej) => {
      const child = spawn('bash', [script, 'pg', 'octet', 'node'], {
        env: {
          ...process.env,
          N: String(n),
          RUNS: '1',
          RUNDIR: rundir,
          // The anchors' row counter needs `pg`: ours, through NODE_PATH, when the anchors have no node_modules.
          NODE_PATH: [join(root, 'node_modules'), process.env.NODE_PATH].filter(Boolean).join(':'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (b: Buffer) => (text += b.toString()));
      child.stderr.on('data', (b: Buffer) => (text += b.toString()));
      child.on('error', rej);
      child.on('exit', (code) => (code === 0 ? res(text) : rej(new Error(`bench-rsyslog.sh exited ${code}: ${text.slice(-600)}`))));
    });
    const line = out.split('\n').find((l) => l.startsWith('run=')) ?? '';
    const field = (k: string): number => Number(new RegExp(`(?:^| )${k}=([0-9.]+)`).exec(line)?.[1] ?? NaN);
    const eventsPerSec = field('rate');
    if (!(eventsPerSec > 0) || field('lost') !== 0) throw new Error(`bench-rsyslog.sh gave no clean run: ${line || out.slice(-600)}`);
    return { eventsPerSec, cpuPer100kRsyslogd: (field('rsyslogd_cpu_s') / n) * 100_000, line };
  } finally {
    rmSync(rundir, { recursive: true, force: true });
  }
}
