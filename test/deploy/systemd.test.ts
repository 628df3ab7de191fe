/**
 * deploy/systemd/: the serve unit and the verify and archive timers pass `systemd-analyze verify`
 * with no warning (an unknown key is only a warning there, so stderr must be empty too).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const UNITS = resolve(import.meta.dirname, '../../deploy/systemd');

function systemdAnalyze(): string | null {
  try {
    execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
    return 'systemd-analyze';
  } catch {
    return null;
  }
}

describe.skipIf(!systemdAnalyze())('deploy/systemd', () => {
  it('every unit passes systemd-analyze verify without a warning', () => {
    const files = readdirSync(UNITS).filter((f) => /\.(service|timer)$/.test(f));
    expect(files.sort()).toEqual(['syslog-ledger-archive.service', 'syslog-ledger-archive.timer', 'syslog-ledger-verify.service', 'syslog-ledger-verify.timer', 'syslog-ledger.service']);
    // The units name /usr/bin/node; where node lives elsewhere, check them with this one.
    const dir = mkdtempSync(join(tmpdir(), 'sl-systemd-'));
    try {
      for (const f of files) writeFileSync(join(dir, f), readFileSync(join(UNITS, f), 'utf8').replaceAll('/usr/bin/node ', `${process.execPath} `));
      const r = spawnSync('systemd-analyze', ['verify', ...files.map((f) => join(dir, f))], { encoding: 'utf8' });
      expect({ code: r.status, stderr: r.stderr.trim() }).toEqual({ code: 0, stderr: '' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the serve unit stops within its timeout after the drain and shutdown limits, and never restarts a fenced writer', () => {
    const unit = readFileSync(join(UNITS, 'syslog-ledger.service'), 'utf8');
    expect(unit).toMatch(/^TimeoutStopSec=60$/m);
    expect(unit).toMatch(/^RestartPreventExitStatus=1$/m);
    expect(unit).toMatch(/--no-dev-pki/);
  });
});
