/**
 * CPU and memory from /proc (Linux). CPU is attributed as the anchors' cpuacct.js does: the server's
 * process, the PostgreSQL backends connected to the benchmark's database, PostgreSQL's shared
 * auxiliary processes (walwriter, checkpointer, ...), this process (the load generator), and
 * everything else ("foreign": another tenant; it tells how noisy a run was).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

const HZ = 100; // USER_HZ: clock ticks per second in /proc/<pid>/stat on Linux

export interface ProcCpu {
  /** utime + stime of the process, seconds. */
  readonly self: number;
}

/** utime+stime (seconds) of one process, or NaN when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / HZ;
  } catch {
    return Number.NaN;
  }
}

/** VmRSS and VmHWM (peak RSS) in bytes. */
export function memory(pid: number): { rss: number; hwm: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? Number.NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return { rss: Number.NaN, hwm: Number.NaN };
  }
}

export type CpuClass = 'server' | 'pg_backends' | 'pg_shared' | 'loadgen' | 'foreign';

/** Per-process CPU ticks at one moment, keyed by pid:starttime (pids get reused). */
export type CpuSnapshot = Map<string, { cls: CpuClass; ticks: number }>;

/**
 * Snapshot of every process's CPU ticks (utime+stime+cutime+cstime), classified.
 * `database` picks the PostgreSQL backends that count as ours: their command line names it.
 */
export function snapshot(serverPid: number | undefined, database: string): CpuSnapshot {
  const out: CpuSnapshot = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const st = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      const pid = Number(name);
      let cls: CpuClass;
      if (pid === serverPid) cls = 'server';
      else if (pid === process.pid) cls = 'loadgen';
      else {
        const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
        if (args.startsWith('postgres:') || args.includes('bin/postgres ')) {
          // Backends read "postgres: USER DB HOST(PORT) STATE"; auxiliary processes have no DB.
          if (args.includes(` ${database} `)) cls = 'pg_backends';
          else if (/\(\d+\)|\[local\]/.test(args)) cls = 'foreign';
          else cls = 'pg_shared';
        } else cls = 'foreign';
      }
      out.set(`${name}:${f[19]}`, { cls, ticks });
    } catch {
      // the process vanished between readdir and read
    }
  }
  return out;
}

/**
 * Merges a later snapshot into `seen`: the later ticks, and the class of whichever sighting placed the
 * process as ours. A backend on its way out shows an empty command line (it would count as another
 * tenant's), and one just forked still shows the postmaster's.
 */
export function accumulate(seen: CpuSnapshot, later: CpuSnapshot): void {
  const ours = (c: CpuClass): boolean => c !== 'foreign' && c !== 'pg_shared';
  for (const [k, v] of later) {
    const before = seen.get(k);
    seen.set(k, before !== undefined && ours(before.cls) && !ours(v.cls) ? { cls: before.cls, ticks: v.ticks } : v);
  }
}

export type CpuDiff = Record<CpuClass, number>;

/** CPU seconds used per class between two snapshots (processes that exited in between are not counted). */
export function diff(a: CpuSnapshot, b: CpuSnapshot): CpuDiff {
  const t: CpuDiff = { server: 0, pg_backends: 0, pg_shared: 0, loadgen: 0, foreign: 0 };
  for (const [k, v] of b) t[v.cls] += (v.ticks - (a.get(k)?.ticks ?? 0)) / HZ;
  return t;
}

/** Polls a process's RSS; `peak` is the highest VmRSS seen (VmHWM covers the whole process life). */
export class RssSampler {
  #timer: NodeJS.Timeout | undefined;
  peak = 0;
  constructor(readonly pid: number, intervalMs = 50) {
    this.#timer = setInterval(() => {
      const { rss } = memory(this.pid);
      if (rss > this.peak) this.peak = rss;
    }, intervalMs);
    this.#timer.unref();
  }
  stop(): number {
    clearInterval(this.#timer);
    const { rss } = memory(this.pid);
    if (rss > this.peak) this.peak = rss;
    return this.peak;
  }
}

export function machine(): Record<string, unknown> {
  const c = cpus();
  let flags: string[] = [];
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    flags = (/^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? '').split(' ').filter((x) => ['sha_ni', 'aes', 'avx2', 'avx512f'].includes(x));
  } catch {
    // not Linux
  }
  let os = '';
  try {
    os = /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    // no os-release
  }
  let kernel = '';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // not Linux
  }
  return {
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    cpu_flags: flags,
    memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os,
    kernel,
    loadavg_at_start: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** Busy and idle jiffies of the whole machine (/proc/stat), for a "how busy was it" figure. */
export function machineTicks(): { busy: number; idle: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line;
  return { busy: user + nice + system + irq + softirq + steal, idle: idle + iowait };
}

/**
 * Waits (at most `maxSeconds`) until the machine is less than `pct` % busy over one second, so that
 * another tenant's burst does not land in a timed run. Returns the busy % seen last.
 */
export async function waitQuiet(maxSeconds: number, pct: number): Promise<number> {
  const deadline = performance.now() + maxSeconds * 1000;
  for (;;) {
    const a = machineTicks();
    await new Promise((r) => setTimeout(r, 1000));
    const b = machineTicks();
    const busy = (100 * (b.busy - a.busy)) / Math.max(1, b.busy - a.busy + b.idle - a.idle);
    if (busy < pct || performance.now() > deadline) return Math.round(busy);
  }
}

/** A CPU snapshot plus the machine's busy ticks (/proc/stat) at the same moment. */
export interface CpuMark {
  readonly procs: CpuSnapshot;
  readonly machineBusy: number;
  /** CPU ticks of the server's main thread. */
  readonly serverMainTicks: number;
}

export function mark(serverPid: number | undefined, database: string): CpuMark {
  return { procs: snapshot(serverPid, database), machineBusy: machineTicks().busy, serverMainTicks: threadTicks(serverPid, serverPid) };
}

/** CPU ticks of one thread (the main thread's id is the process id): 0 when unknown. */
function threadTicks(pid: number | undefined, tid: number | undefined): number {
  if (pid === undefined || tid === undefined) return 0;
  try {
    const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** CPU seconds of the server's main thread between two marks (what --workers takes work away from). */
export function mainThreadSeconds(a: CpuMark, b: CpuMark): number {
  return (b.serverMainTicks - a.serverMainTicks) / HZ;
}

/**
 * CPU seconds per class between two marks, with `foreign` taken as the machine's busy time minus ours:
 * unlike summing other processes' ticks, it counts processes that started and ended in between once,
 * and not the lifetime CPU of children reaped in between.
 */
export function since(a: CpuMark, b: CpuMark): CpuDiff {
  const t = diff(a.procs, b.procs);
  t.foreign = Math.max(0, (b.machineBusy - a.machineBusy) / HZ - t.server - t.pg_backends - t.pg_shared - t.loadgen);
  return t;
}
