/**
 * The console (docs/console.md) in a real Chromium (Debian's /usr/bin/chromium, driven by
 * puppeteer-core): three hosts send over mTLS to the real serve; an auditor logs in with the
 * token, reads the integrity and sources pages, searches one host over several pages, opens an
 * event and checks its proof with verify-proof, exports a package verify-evidence accepts, and sees
 * a tampered row on the integrity page. Every search and export is an OCSF 6003 access record.
 * Screenshots go to test-artifacts/console/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../helpers/db.js';
import { runCli, startServer, type RunningServer } from '../helpers/server.js';
import { connect, sendAndClose, waitFor } from '../helpers/tls-client.js';

const HOSTS = ['web1', 'web2', 'web3'] as const;
const PER_HOST = 40;
const SILENT = 'db-silent';
const CHAIN = 'test-chain';
const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts/console');
const TOKEN = 'console-test-token-0123456789abcdef';

let server: RunningServer;
let browser: Browser;
let page: Page;
let base: string;
let tmp: string;
let downloads: string;
let pub: string;
let searches = 0;

function frames(host: string): string {
  let s = '';
  for (let i = 0; i < PER_HOST; i++) {
    const msg = `<86>1 2026-12-06T10:${String(i).padStart(2, '0')}:00.000001Z ${host} sshd 42 - - Failed password for alice from 192.0.2.${i + 1} port 22 ssh2`;
    s += `${Buffer.byteLength(msg)} ${msg}`;
  }
  return s;
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The next file to appear in the download folder (complete, not .crdownload). */
async function downloaded(before: Set<string>, suffix: string): Promise<string> {
  return waitFor(async () => {
    const f = readdirSync(downloads).find((n) => !before.has(n) && n.endsWith(suffix));
    return f && join(downloads, f);
  }, 60_000, 100);
}

const text = (sel: string): Promise<string> => page.$eval(sel, (e) => e.textContent ?? '');

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  tmp = mkdtempSync(join(tmpdir(), 'sl-console-test-'));
  downloads = join(tmp, 'downloads');
  mkdirSync(downloads);
  const tokenFile = join(tmp, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  server = await startServer({
    clients: HOSTS.map((cn) => ({ cn })),
    args: ['--console', '127.0.0.1:0', '--console-token-file', tokenFile, '--expect-source', SILENT, '--verify-interval', '2s'],
  });
  pub = join(server.workDir, 'certs', 'ledger-signing.key.pub');
  const serving = server.logs.find((l) => l.msg === 'syslog-ledger serving')!;
  base = `http://${String(serving.console)}`;
  const sockets = await Promise.all(server.pki.clients.map((c) => connect(server.port, { cert: c.cert, key: c.key, ca: server.pki.ca })));
  await Promise.all(sockets.map((s, i) => sendAndClose(s, frames(HOSTS[i]!))));
  await waitFor(async () => (await query<{ n: string }>(server.databaseUrl, "SELECT count(*) AS n FROM ledger WHERE format <> 'internal'"))[0]!.n === String(3 * PER_HOST));
  // Every event signed (proofs and exports need a checkpoint covering it) and verified once.
  await waitFor(async () => (await query<{ ok: boolean }>(server.databaseUrl, "SELECT checkpoint_seq >= (SELECT max(seq) FROM ledger WHERE chain = $1 AND format <> 'internal') AND verify_result = 'intact' AS ok FROM integrity_status WHERE chain = $1", [CHAIN]))[0]?.ok === true, 60_000, 200);
  browser = await puppeteer.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  const cdp = await page.createCDPSession();
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
}, 180_000);

afterAll(async () => {
  const proc = browser?.process();
  await browser?.close().catch(() => undefined);
  if (proc && proc.exitCode === null) proc.kill('SIGKILL');
  await server?.cleanup();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('console: no credentials', () => {
  it('console: every page without a token is 401 with a login form and no ledger data (no host names)', async () => {
    for (const path of ['/', '/sources', '/search?host=web1', `/event?chain=${CHAIN}&seq=1`, `/proof?chain=${CHAIN}&seq=1`, '/login?token=wrong']) {
      const r = await fetch(`${base}${path}`, { redirect: 'manual' });
      const body = await r.text();
      expect(r.status, path).toBe(401);
      for (const h of [...HOSTS, SILENT, CHAIN, 'alice']) expect(body, path).not.toContain(h);
      expect(body).toContain('Console token');
      expect(r.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    }
    const post = await fetch(`${base}/export`, { method: 'POST', body: 'host=web1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(post.status).toBe(401);
    // GET never changes anything: /export and /logout answer GET with 405.
    expect((await fetch(`${base}/export`)).status).toBe(405);
  });
});

describe('console in Chromium', () => {
  it('login: the token sets an HttpOnly SameSite=Strict cookie and redirects to the integrity page', async () => {
    const r = await page.goto(`${base}/login?token=${TOKEN}`);
    expect(r?.status()).toBe(200);
    expect(new URL(page.url()).pathname).toBe('/');
    expect(await page.title()).toMatch(/^Integrity/);
    const [c] = await page.cookies();
    expect(c).toMatchObject({ name: 'sl_console', httpOnly: true, sameSite: 'Strict' });
  });

  it('integrity: each chain and its head seq, its last signed checkpoint and the verification result', async () => {
    const before = await query<{ chain: string; head_seq: string }>(server.databaseUrl, 'SELECT chain, head_seq FROM chains ORDER BY chain');
    await page.goto(`${base}/`);
    const after = await query<{ chain: string; head_seq: string }>(server.databaseUrl, 'SELECT chain, head_seq FROM chains ORDER BY chain');
    const shown = await page.$$eval('tbody tr', (trs) => trs.map((tr) => [tr.querySelector('th')!.textContent, Number(tr.querySelector('[data-head-seq]')!.textContent)] as const));
    expect(shown.map(([c]) => c).sort()).toEqual(before.map((r) => r.chain).sort());
    for (const [chain, seq] of shown) {
      expect(seq).toBeGreaterThanOrEqual(Number(before.find((r) => r.chain === chain)!.head_seq));
      expect(seq).toBeLessThanOrEqual(Number(after.find((r) => r.chain === chain)!.head_seq));
    }
    expect(await text('tbody')).toContain('intact');
    expect(await page.$('script')).toBeNull();
    await shot('integrity');
  });

  it('sources: the three hosts are sending, and the expected source that never sent is flagged silent', async () => {
    await page.goto(`${base}/sources`);
    const rows = await page.$$eval('tr[data-source]', (trs) => trs.map((tr) => ({ source: tr.getAttribute('data-source'), bad: tr.classList.contains('bad'), text: tr.textContent ?? '' })));
    for (const h of HOSTS) {
      const r = rows.find((x) => x.source === h);
      expect(r, h).toBeDefined();
      expect(r!.bad).toBe(false);
      expect(r!.text).toContain('sending');
    }
    const silent = rows.find((x) => x.source === SILENT)!;
    expect(silent.bad).toBe(true);
    expect(silent.text).toContain('SILENT');
    expect(silent.text).toContain('never sent');
    await shot('sources');
  });

  let firstEvent = '';
  it('search: one host, 10 rows a page, gives exactly its 40 events over 4 pages in ledger order, with an exact total', async () => {
    await page.goto(`${base}/search`);
    await page.type('input[name=host]', 'web2');
    // The form shows the range it would search (the last 24 hours); type another.
    await page.$eval('input[name=from]', (e) => void ((e as unknown as { value: string }).value = ''));
    await page.type('input[name=from]', '2h');
    await page.select('select[name=n]', '10');
    await Promise.all([page.waitForNavigation(), page.click('form.search button[type=submit]')]);
    searches++;
    expect(await page.$eval('[data-total]', (e) => e.getAttribute('data-total'))).toBe(String(PER_HOST));
    await shot('search');
    const keys: Array<[string, number]> = [];
    for (let pageNo = 1; ; pageNo++) {
      const links = await page.$$eval('tbody a[href^="/event"]', (as) => as.map((a) => a.getAttribute('href')!));
      expect(links.length).toBeGreaterThan(0);
      if (pageNo === 1) firstEvent = links[0]!;
      for (const l of links) {
        const u = new URL(l, base);
        keys.push([u.searchParams.get('chain')!, Number(u.searchParams.get('seq'))]);
      }
      const next = await page.$('a[rel=next]');
      if (!next) break;
      await Promise.all([page.waitForNavigation(), next.click()]);
      searches++;
    }
    expect(searches).toBe(4);
    const expected = await query<{ chain: string; seq: string }>(server.databaseUrl, "SELECT chain, seq FROM ledger WHERE hostname = 'web2' ORDER BY chain, seq");
    expect(keys).toEqual(expected.map((r) => [r.chain, Number(r.seq)]));
  });

  it('event: the page shows the raw frame, chain, seq and hash; its downloaded proof verifies with verify-proof', async () => {
    await page.goto(new URL(firstEvent, base).toString());
    const u = new URL(firstEvent, base);
    const seq = Number(u.searchParams.get('seq'));
    const [row] = await query<{ raw: Buffer; hash: Buffer }>(server.databaseUrl, 'SELECT raw, hash FROM ledger WHERE chain = $1 AND seq = $2', [CHAIN, seq]);
    expect(await text('#raw')).toBe(row!.raw.toString('utf8'));
    expect(await text('[data-hash]')).toBe(row!.hash.toString('hex'));
    expect(JSON.parse(await text('#ocsf'))).toMatchObject({ device: { hostname: 'web2' } });
    await shot('event');
    const before = new Set(readdirSync(downloads));
    await page.click('a[href^="/proof"]');
    const file = await downloaded(before, '.json');
    const v = await runCli(['verify-proof', file, '--public-key', pub]);
    expect(v.stdout + v.stderr).toMatch(/valid|verif/i);
    expect(v.code).toBe(0);
  });

  it('export: the search downloads as an evidence package that verify-evidence accepts', async () => {
    await page.goto(`${base}/search?host=web2&from=2h&n=10`);
    searches++;
    await page.type('input[name=reason]', 'console test SEC-7');
    const before = new Set(readdirSync(downloads));
    await page.click('form[action="/export"] button[type=submit]');
    const tar = await downloaded(before, '.tar');
    const out = join(tmp, 'pkg');
    mkdirSync(out);
    execFileSync('tar', ['-xf', tar, '-C', out]);
    const [dir] = readdirSync(out);
    const pkg = join(out, dir!);
    const manifest = JSON.parse(readFileSync(join(pkg, 'manifest.json'), 'utf8')) as { mode: string; counts: { matching: number }; exported_by: { reason: string }; query: { host: string } };
    expect(manifest).toMatchObject({ mode: 'filtered', counts: { matching: PER_HOST }, query: { host: 'web2' } });
    expect(manifest.exported_by.reason).toContain('console test SEC-7');
    const v = await runCli(['verify-evidence', pkg, '--public-key', pub]);
    expect(v.stdout).toMatch(/^intact: /);
    expect(v.code).toBe(0);
  });

  it('search: an injection attempt in every field comes back escaped, with no SQL error and the ledger intact', async () => {
    const payload = `x'"><script>alert(1)</script>'; DROP TABLE ledger;--`;
    for (const field of ['from', 'to', 'host', 'user', 'class', 'status', 'text', 'n', 'after', 'page']) {
      const r = await page.goto(`${base}/search?${new URLSearchParams({ from: '2h', [field]: payload })}`);
      expect(r?.status(), field).toBe(200);
      const html = await page.content();
      expect(await page.$('script'), field).toBeNull();
      expect(html, field).not.toMatch(/syntax error|SQL|ERROR:/);
      if (['from', 'to', 'host', 'user', 'class', 'status', 'text'].includes(field)) expect(html, field).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      if (await page.$('[data-total]')) searches++;
    }
    expect((await query<{ n: string }>(server.databaseUrl, 'SELECT count(*) AS n FROM ledger WHERE hostname = $1', ['web2']))[0]!.n).toBe(String(PER_HOST));
  });

  it('search: a search without bound (over 31 days, or a message text over 7) is refused with the reason, and not run', async () => {
    for (const [params, why] of [[{ from: '60d' }, /covers at most 31 days/], [{ from: '10d', text: 'alice' }, /message-text search reads every frame of the range: it covers at most 7 days/]] as const) {
      await page.goto(`${base}/search?${new URLSearchParams(params)}`);
      expect(await text('[role=alert]')).toMatch(why);
      expect(await page.$('[data-total]')).toBeNull();
    }
  });

  it('access records: each search page and the export is an OCSF 6003 record by the console user', async () => {
    const rows = await query<{ op: string; actor_user: string; rows: string; via: string }>(
      server.databaseUrl,
      "SELECT event->'api'->>'operation' AS op, actor_user, event->'unmapped'->'access'->>'rows' AS rows, event->'unmapped'->'access'->>'via' AS via FROM ledger WHERE chain = 'syslog-ledger.access' AND class_uid = 6003 ORDER BY seq",
    );
    expect(rows.every((r) => r.actor_user === 'token' && r.via === 'console')).toBe(true);
    expect(rows.filter((r) => r.op === 'search')).toHaveLength(searches);
    expect(rows.filter((r) => r.op === 'export')).toEqual([{ op: 'export', actor_user: 'token', rows: String(PER_HOST), via: 'console' }]);
    expect(rows.filter((r) => r.op === 'view').length).toBeGreaterThanOrEqual(1);
    expect(rows.filter((r) => r.op === 'prove')).toHaveLength(1);
  });

  it('integrity: after a row is tampered with and verification runs, the page shows the failure in red with the first bad row', async () => {
    const c = new pg.Client({ connectionString: server.databaseUrl });
    await c.connect();
    try {
      await c.query('ALTER TABLE ledger DISABLE TRIGGER USER');
      await c.query("UPDATE ledger SET raw = convert_to('forged', 'UTF8') WHERE chain = $1 AND seq = (SELECT max(seq) FROM ledger WHERE chain = $1)", [CHAIN]);
      await c.query('ALTER TABLE ledger ENABLE TRIGGER USER');
    } finally {
      await c.end();
    }
    await waitFor(async () => (await query<{ r: string }>(server.databaseUrl, 'SELECT verify_result AS r FROM integrity_status WHERE chain = $1', [CHAIN]))[0]?.r === 'failed', 60_000, 250);
    await page.goto(`${base}/`);
    const row = await page.$$eval('tbody tr.bad', (trs) => trs.map((tr) => tr.textContent ?? ''));
    expect(row).toHaveLength(1);
    expect(row[0]).toContain(CHAIN);
    expect(row[0]).toMatch(/FAILED \(tampered\)/);
    expect(row[0]).toMatch(/first bad row: seq \d+/);
    expect(await text('[role=alert]')).toMatch(/Verification FAILED/);
    await shot('integrity-failed');
  }, 90_000);
});

describe('console: refusing to start', () => {
  it('serve: a non-loopback --console without client certificates refuses to start and names --console-allow', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sl-console-refuse-'));
    try {
      const r = await runCli(['serve', '--console', '0.0.0.0:0', '--listen', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--database-url', server.databaseUrl, '--no-dev-pki'], { cwd: dir });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('--console-allow');
      expect(existsSync(join(dir, 'certs'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
