/** Fresh databases for benchmark runs on the machine's PostgreSQL (DATABASE_URL, else the local trust URL). */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export function adminUrl(): string {
  return process.env.DATABASE_URL ?? DEFAULT_ADMIN_URL;
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export interface BenchDatabase {
  readonly name: string;
  readonly url: string;
  drop(): Promise<void>;
}

/** Runs `fn` with a short-lived client on `url`. */
export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, application_name: 'syslog-ledger bench' });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** CREATE DATABASE bench_<random>; `drop()` removes it (WITH FORCE). */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = adminUrl();
  await withClient(admin, (c) => c.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: withDatabase(admin, name),
    drop: () => withClient(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/** Flushes dirty buffers so that each timed run starts from the same WAL/buffer state (as the anchors do). */
export async function checkpoint(url: string): Promise<void> {
  await withClient(url, (c) => c.query('CHECKPOINT')).catch(() => undefined);
}

export async function serverVersion(url: string): Promise<string> {
  return withClient(url, async (c) => (await c.query<{ v: string }>('SELECT version() AS v')).rows[0]!.v);
}

/** One observation of a chain's committed head: `atUs` is the statement's start on the PostgreSQL clock. */
export interface HeadSample {
  readonly atUs: number;
  readonly seq: number;
}

/**
 * Polls `chains.head_seq` on its own connection. A row is visible to a statement only if its transaction
 * committed before the statement's snapshot, which PostgreSQL takes right after `statement_timestamp()`:
 * so each row committed in (previous sample's atUs, this sample's atUs]. The gap between samples is the
 * resolution of every commit time derived from them.
 */
export class HeadPoller {
  readonly samples: HeadSample[] = [];
  readonly #url: string;
  readonly #chain: string;
  readonly #intervalMs: number;
  #client: pg.Client | undefined;
  #running = false;
  #loop: Promise<void> | undefined;
  #waiters: Array<{ seq: number; resolve: (s: HeadSample) => void }> = [];

  constructor(url: string, chain: string, intervalMs: number) {
    this.#url = url;
    this.#chain = chain;
    this.#intervalMs = intervalMs;
  }

  async start(): Promise<void> {
    this.#client = new pg.Client({ connectionString: this.#url, application_name: 'syslog-ledger bench poller' });
    await this.#client.connect();
    await this.#client.query({ name: 'head', text: SAMPLE_SQL, values: [this.#chain] });
    this.#running = true;
    this.#loop = this.#run();
  }

  get last(): HeadSample | undefined {
    return this.samples[this.samples.length - 1];
  }

  /** Resolves with the first sample whose head is at least `seq`. */
  reach(seq: number, timeoutMs: number): Promise<HeadSample> {
    const hit = this.samples.find((s) => s.seq >= seq);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`chain ${this.#chain} did not reach seq ${seq} within ${timeoutMs} ms (head ${this.last?.seq ?? 0})`)), timeoutMs);
      this.#waiters.push({ seq, resolve: (s) => (clearTimeout(timer), resolve(s)) });
    });
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
    await this.#client?.end().catch(() => undefined);
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const t = performance.now();
      const res = await this.#client!.query<{ at_us: string; seq: string | null }>({ name: 'head', text: SAMPLE_SQL, values: [this.#chain] });
      const row = res.rows[0]!;
      const s: HeadSample = { atUs: Number(row.at_us), seq: Number(row.seq ?? 0) };
      this.samples.push(s);
      if (this.#waiters.length) {
        this.#waiters = this.#waiters.filter((w) => (s.seq >= w.seq ? (w.resolve(s), false) : true));
      }
      const wait = this.#intervalMs - (performance.now() - t);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }

}

const SAMPLE_SQL =
  "SELECT (extract(epoch FROM statement_timestamp()) * 1000000)::bigint AS at_us, (SELECT head_seq FROM chains WHERE chain = $1) AS seq";
