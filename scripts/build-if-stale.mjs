#!/usr/bin/env node
/**
 * `npm install`'s prepare step: compile with tsc unless dist/ is newer than every input.
 *
 * Why: the first `npx syslog-ledger ...` in a checkout installs the checkout itself into npx's cache
 * (npm exec does this for a package's own bin) and runs `prepare` once more. With `prepare` = tsc
 * that was a second full compile, 12.6 s of wall time (11.8 s CPU) on a fresh machine before
 * `verify` even started (issue 20). Plain JavaScript: it runs before anything is compiled.
 * `npm run build` and `npm test` still always compile.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// tsc rewrites every output on each compile (npm run build, npm test, this script): the entry
// point's time is the last compile's.
const built = join(root, 'dist', 'src', 'main.js');
const INPUTS = ['src', 'bench', 'scripts', 'tsconfig.json', 'package.json'];

/** Newest modification time under `path` (directories count: a deleted file changes its folder). */
function newest(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let m = st.mtimeMs;
  for (const name of readdirSync(path)) m = Math.max(m, newest(join(path, name)));
  return m;
}

const inputsAt = Math.max(...INPUTS.map((p) => join(root, p)).filter((p) => existsSync(p)).map(newest));
if (existsSync(built) && statSync(built).mtimeMs > inputsAt) {
  console.log('syslog-ledger: dist/ is up to date (npm run build compiles anyway)');
} else {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
}
