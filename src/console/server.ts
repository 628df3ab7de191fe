/**
 * The console's HTTP(S) server (docs/console.md): routes, authentication, security headers, time
 * limits, and the rule that a read is on the record before it is shown (src/console/access.ts).
 * Pages: / (integrity), /sources, /search, /event; downloads: /proof (GET), /export (POST).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import type { Logger } from 'pino';
import { waitForReplay } from '../db/replica.js';
import { recordAccess } from '../evidence/access.js';
import { runExport } from '../evidence/export.js';
import type { SigningKey } from '../checkpoints/signing.js';
import type { TlsMaterial } from '../listener/tls-files.js';
import { ConsoleError, describeError, ProveFailure } from '../errors.js';
import { absoluteTime } from '../evidence/query.js';
import { consoleAccessEvent, type ConsoleRead } from './access.js';
import { ConsoleAuth, type Principal } from './auth.js';
import type { ConsoleConfig } from './config.js';
import { CSS, html, page, type Html } from './html.js';
import { coverage, inclusionProof, integrity, openReaderPool, readEntry, search, withReader } from './queries.js';
import { parseSearch } from './search-form.js';
import { eventBody, searchBody } from './search-pages.js';
import { integrityBody, sourcesBody } from './status-pages.js';
import { tarFolder } from './tar.js';

export interface ConsoleDeps {
  readonly config: ConsoleConfig;
  /** The primary: the access records of the console's reads are written here. */
  readonly databaseUrl: string;
  /**
   * A streaming replica (serve --read-database-url): every page, proof and export reads here, so
   * that auditors never slow ingestion; unset: the primary. Exports wait until it has replayed what
   * the primary had (src/db/replica.ts), so a package is exact up to the signed checkpoints.
   */
  readonly readDatabaseUrl?: string;
  /** serve's TLS material: the console's certificate, and the CA (and CRL) its client certificates must chain to. */
  readonly tls: TlsMaterial;
  /** The ledger's key: signs the access records' checkpoints. */
  readonly key: SigningKey;
  readonly checkpointFile: string;
  readonly silenceThresholdSec: number;
  /** Sources that must keep sending (`--expect-source`, `--expect-sources-file`); replaced by reload(). */
  readonly expectSources: readonly string[];
  readonly log: Logger;
}

export interface ConsoleServer {
  readonly address: AddressInfo;
  /** Where to log in: the token URL, or the HTTPS address. */
  readonly loginUrl: string;
  /** SIGHUP: new TLS material (certificate, CA, CRL) for new connections, and the expected sources. */
  reload(tls: TlsMaterial, expectSources: readonly string[]): void;
  close(): Promise<void>;
}

/** Security headers of every response. No script may run; nothing is framed, cached or referred. */
const HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
} as const;

const EXPORT_TIMEOUT_MS = 10 * 60_000;
/** An export from a replica waits at most this long for it to replay what the primary has. */
const EXPORT_REPLAY_WAIT_MS = 60_000;
const MAX_BODY = 16 * 1024;

export async function startConsole(d: ConsoleDeps): Promise<ConsoleServer> {
  const c = d.config;
  const auth = new ConsoleAuth(c.token, c.allow);
  const pool = openReaderPool(d.readDatabaseUrl ?? d.databaseUrl, c.requestTimeoutMs);
  let expect = d.expectSources;
  pool.on('error', (err) => d.log.warn({ err: describeError(err) }, 'console: database connection error'));
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const limit = req.url?.startsWith('/export') ? EXPORT_TIMEOUT_MS : c.requestTimeoutMs;
    const timer = setTimeout(() => {
      if (!res.headersSent) send(res, 503, page('Timed out', html`<p class="notice">The request took longer than ${limit / 1000} s and was stopped.</p>`));
      else res.destroy();
    }, limit);
    res.once('close', () => clearTimeout(timer));
    route(req, res, { d, auth, pool, secure: auth.certificates, expect }).catch((err: unknown) => {
      const known = err instanceof ConsoleError;
      const timeout = (err as { code?: string }).code === '57014';
      if (!known) d.log.error({ err: describeError(err), url: req.url?.split('?')[0] }, 'console: request failed');
      if (res.headersSent) return void res.destroy();
      const status = known ? err.status : timeout ? 503 : 500;
      const msg = known ? err.message : timeout ? `The query took longer than ${c.requestTimeoutMs / 1000} s and was stopped: narrow the search.` : 'The request failed; the server log says why.';
      send(res, status, page('Error', html`<p class="notice" role="alert">${msg}</p>`));
    });
  };
  const tlsOptions = (m: TlsMaterial) => ({ cert: m.cert, key: m.key, ca: m.ca, ...(m.crl ? { crl: m.crl } : {}) });
  const server = c.allow.length > 0
    ? https.createServer({ ...tlsOptions(d.tls), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, handler)
    : http.createServer(handler);
  server.requestTimeout = c.requestTimeoutMs;
  server.headersTimeout = Math.min(c.requestTimeoutMs, 20_000);
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(c.port, c.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const loginUrl = c.allow.length > 0 ? `https://${host}:${address.port}/` : `http://${host}:${address.port}/login?token=${encodeURIComponent(c.token)}`;
  return {
    address,
    loginUrl,
    reload(tls, expectSources) {
      expect = expectSources;
      if (server instanceof https.Server) server.setSecureContext(tlsOptions(tls));
    },
    async close() {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.end().catch(() => undefined);
    },
  };
}

interface Ctx {
  readonly d: ConsoleDeps;
  readonly auth: ConsoleAuth;
  readonly pool: pg.Pool;
  readonly secure: boolean;
  readonly expect: readonly string[];
}

function send(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...HEADERS, 'content-type': 'text/html; charset=utf-8', ...headers });
  res.end(body);
}

function loginPage(certificates: boolean, message?: string): string {
  return page(
    'Log in',
    certificates
      ? html`<p class="notice" role="alert">This console needs a client certificate issued by the ledger's CA and named in <code>--console-allow</code>.</p>`
      : html`${message ? html`<p class="notice" role="alert">${message}</p>` : html``}
<form method="get" action="/login" class="search" aria-label="Log in"><label>Console token<input name="token" type="password" autocomplete="current-password" required></label><button type="submit">Log in</button></form>
<p>The token is printed by <code>syslog-ledger serve</code> at start, or read from <code>--console-token-file</code>.</p>`,
  );
}

/** Writes the access record of a read; the read is not shown when it cannot be recorded. */
async function onRecord(x: Ctx, p: Principal, r: ConsoleRead, res: http.ServerResponse): Promise<void> {
  // Timed out meanwhile: the user was told so and sees nothing, so nothing was read.
  if (res.headersSent || res.destroyed) throw new ConsoleError('The request was stopped.', 503);
  try {
    await recordAccess(x.d.databaseUrl, { key: x.d.key, checkpointFile: x.d.checkpointFile, event: consoleAccessEvent(p, r) });
  } catch (err) {
    x.d.log.error({ err: describeError(err), op: r.op }, 'console: could not write the access record; the read was refused');
    throw new ConsoleError('This read could not be recorded in the ledger, so it was not made.', 503, { cause: err });
  }
}

async function readBody(req: http.IncomingMessage): Promise<URLSearchParams> {
  if (!/^application\/x-www-form-urlencoded\b/.test(req.headers['content-type'] ?? '')) throw new ConsoleError('Expected a form.', 415);
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ConsoleError('The form is too large.', 413);
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const GET_ROUTES = new Set(['/', '/sources', '/search', '/event', '/proof', '/login', '/console.css']);
const POST_ROUTES = new Set(['/export', '/logout']);

async function route(req: http.IncomingMessage, res: http.ServerResponse, x: Ctx): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://console.invalid');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  if (!(GET_ROUTES.has(path) || POST_ROUTES.has(path))) return send(res, 404, page('Not found', html`<p>No such page.</p>`));
  const allowed = POST_ROUTES.has(path) ? 'POST' : 'GET';
  if (method !== allowed) return send(res, 405, page('Method not allowed', html`<p>Use ${allowed}.</p>`), { allow: allowed });
  if (path === '/console.css') {
    res.writeHead(200, { ...HEADERS, 'content-type': 'text/css; charset=utf-8' });
    return void res.end(CSS);
  }
  if (path === '/login') {
    if (x.auth.certificates) return send(res, x.auth.principal(req) ? 303 : 401, loginPage(true), x.auth.principal(req) ? { location: '/' } : {});
    const token = url.searchParams.get('token');
    if (token !== null && x.auth.tokenMatches(token)) return send(res, 303, '', { location: '/', 'set-cookie': x.auth.startSession(x.secure) });
    return send(res, 401, loginPage(false, token === null ? undefined : 'That token is not valid.'));
  }
  const p = x.auth.principal(req);
  if (p === undefined) return send(res, 401, loginPage(x.auth.certificates, x.auth.certificates ? undefined : 'Log in with the console token.'));
  if (method === 'POST') {
    // Same-origin forms only: a cross-site form carries neither our Origin nor the session's CSRF token.
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== 'null' && new URL(origin).host !== req.headers.host) throw new ConsoleError('Cross-site form refused.', 403);
  }
  const csrf = x.auth.csrf(p);
  const show = (title: string, body: Html, current?: string): void => send(res, 200, page(title, body, { current, user: p.name, csrf }));
  switch (path) {
    case '/':
      return show('Integrity', integrityBody(await withReader(x.pool, integrity), Date.now()), '/');
    case '/sources':
      return show('Sources', await sources(x, url.searchParams), '/sources');
    case '/search': {
      const nowMs = Date.now();
      const parsed = parseSearch(url.searchParams, nowMs);
      if (![...url.searchParams.keys()].length || parsed.search === undefined) return show('Search', searchBody({ parsed, csrf }), '/search');
      const s = parsed.search;
      const result = await withReader(x.pool, (db) => search(db, s, parsed.after, parsed.limit));
      await onRecord(x, p, { op: 'search', query: s.query, text: s.text, total: result.total, rows: result.rows.length, page: parsed.page }, res);
      return show('Search', searchBody({ parsed, result, csrf }), '/search');
    }
    case '/event': {
      const { chain, seq } = eventKey(url.searchParams);
      const entry = await withReader(x.pool, (db) => readEntry(db, chain, seq));
      if (entry === undefined) throw new ConsoleError('No such event.', 404);
      await onRecord(x, p, { op: 'view', chain, seq }, res);
      return show(`Event ${chain} #${seq}`, eventBody(entry));
    }
    case '/proof': {
      const { chain, seq } = eventKey(url.searchParams);
      const proof = await withReader(x.pool, (db) => inclusionProof(db, chain, seq)).catch((err: unknown) => {
        throw err instanceof ProveFailure ? new ConsoleError(err.message, 409) : err;
      });
      const text = `${JSON.stringify(proof.doc, null, 2)}\n`;
      await onRecord(x, p, { op: 'prove', chain, seq, proofSha256: createHash('sha256').update(text).digest('hex'), valid: proof.ok }, res);
      res.writeHead(200, { ...HEADERS, 'content-type': 'application/json', 'content-disposition': `attachment; filename="proof-${safeName(chain)}-${seq}.json"` });
      return void res.end(text);
    }
    case '/export':
      return exportPackage(x, p, req, res);
    case '/logout': {
      const body = await readBody(req);
      if (!x.auth.csrfMatches(p, body.get('csrf') ?? undefined)) throw new ConsoleError('The form has expired; reload the page.', 403);
      return send(res, 303, '', { location: '/login', 'set-cookie': x.auth.endSession(req) });
    }
  }
}

function eventKey(q: URLSearchParams): { chain: string; seq: number } {
  const chain = q.get('chain') ?? '';
  const seq = Number(q.get('seq'));
  if (chain === '' || !Number.isSafeInteger(seq) || seq < 1) throw new ConsoleError('Give an event as chain and seq.', 400);
  return { chain, seq };
}

const safeName = (s: string): string => s.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60);

async function sources(x: Ctx, q: URLSearchParams): Promise<Html> {
  const nowMs = Date.now();
  const given = { from: q.get('from') ?? '', to: q.get('to') ?? '' };
  let fromMs = nowMs - 86_400_000;
  let toMs = nowMs;
  let error: string | undefined;
  try {
    if (given.from) fromMs = Date.parse(absoluteTime('--from', given.from, nowMs));
    if (given.to) toMs = Date.parse(absoluteTime('--to', given.to, nowMs));
    if (!(toMs > fromMs)) throw new ConsoleError('to must be after from', 400);
    if (toMs - fromMs > 92 * 86_400_000) throw new ConsoleError('a period covers at most 92 days here; use syslog-ledger coverage for longer ones', 400);
  } catch (err) {
    error = `The period was not changed: ${(err as Error).message.replace(/^--/, '')}`;
    fromMs = nowMs - 86_400_000;
    toMs = nowMs;
  }
  const t = x.d.silenceThresholdSec;
  const expect = x.expect;
  const [period, day, hour] = await withReader(x.pool, async (db) => [
    await coverage(db, fromMs * 1000, toMs * 1000, t, expect),
    await coverage(db, (nowMs - 86_400_000) * 1000, nowMs * 1000, t, expect),
    await coverage(db, (nowMs - 3_600_000) * 1000, nowMs * 1000, t, expect),
  ]);
  return sourcesBody({ period, day, hour, given: { from: given.from || new Date(fromMs).toISOString(), to: given.to || new Date(toMs).toISOString() }, ...(error ? { error } : {}) });
}

/** POST /export: the search of the form as an evidence package (src/evidence/export.ts), sent as a tar. */
async function exportPackage(x: Ctx, p: Principal, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const body = await readBody(req);
  if (!x.auth.csrfMatches(p, body.get('csrf') ?? undefined)) throw new ConsoleError('The form has expired; reload the search and export again.', 403);
  const reason = (body.get('reason') ?? '').trim();
  if (reason === '') throw new ConsoleError('An export needs a reason.', 400);
  body.delete('text');
  const parsed = parseSearch(body, Date.now());
  if (parsed.search === undefined) throw new ConsoleError(`The export was not made: ${parsed.errors.join('; ')}`, 400);
  const dir = await mkdtemp(join(tmpdir(), 'syslog-ledger-console-export-'));
  const name = `evidence-${new Date().toISOString().replace(/[:.]/g, '').slice(0, 15)}Z`;
  try {
    const readUrl = x.d.readDatabaseUrl ?? x.d.databaseUrl;
    if (readUrl !== x.d.databaseUrl) await waitForReplay(x.d.databaseUrl, readUrl, EXPORT_REPLAY_WAIT_MS);
    await runExport({
      databaseUrl: readUrl,
      out: join(dir, name),
      query: parsed.search.query,
      reason: `${reason} (console user ${p.name})`,
      key: x.d.key,
      signal: AbortSignal.timeout(EXPORT_TIMEOUT_MS),
      beforePublish: (summary) => onRecord(x, p, { op: 'export', summary }, res),
    });
    res.writeHead(200, { ...HEADERS, 'content-type': 'application/x-tar', 'content-disposition': `attachment; filename="${name}.tar"` });
    await tarFolder(join(dir, name), name, res);
    res.end();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
