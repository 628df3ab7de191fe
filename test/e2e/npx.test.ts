/**
 * The first `npx syslog-ledger ...` in a checkout took 12.6 s (issue 20, point 6): npm exec installs
 * the checkout itself into npx's cache to link its bin, which runs `prepare` again, and `prepare`
 * was a full tsc. Now `prepare` compiles only when an input is newer than the last build
 * (scripts/build-if-stale.mjs), so that first npx compiles nothing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const npx = spawnSync('npx', ['--version'], { encoding: 'utf8' }).status === 0;

describe.skipIf(!npx)('npx syslog-ledger in a checkout', () => {
  it('the first npx call (an empty npx cache) does not compile the project again', () => {
    // Whatever state the checkout is in, make dist/ current the way `npm install` does.
    execFileSync(process.execPath, [join(root, 'scripts/build-if-stale.mjs')], { cwd: root, stdio: 'pipe' });
    const main = join(root, 'dist/src/main.js');
    const before = statSync(main).mtimeMs;
    const cache = mkdtempSync(join(tmpdir(), 'syslog-ledger-npx-cache-'));
    try {
      const r = spawnSync('npx', ['syslog-ledger', '--help'], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, npm_config_cache: cache, npm_config_update_notifier: 'false' },
        timeout: 120_000,
      });
      expect(r.stdout, r.stderr).toContain('Usage: syslog-ledger <command>');
      expect(r.status).toBe(0);
      // tsc rewrites every output file; an untouched main.js means nothing was compiled.
      expect(statSync(main).mtimeMs).toBe(before);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }, 180_000);
});
