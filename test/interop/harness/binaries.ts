/**
 * Finds the real syslog clients the interop tests drive, and how to run them.
 *
 * rsyslog and syslog-ng-core are mutually exclusive Debian packages (both provide
 * system-log-daemon), so one machine cannot `apt-get install` both. Each program is taken from
 * $RSYSLOGD_BIN / $SYSLOG_NG_BIN, else from PATH, else from a package unpacked under /opt
 * (`dpkg-deb -x pkg.deb /opt/rsyslog` or `/opt/syslog-ng`), which test/interop/install-clients.sh
 * does for whichever of the two is not installed. Nothing here is started as a system service.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** How to start one client program. */
export interface ClientBinary {
  readonly path: string;
  /** Extra environment (e.g. LD_LIBRARY_PATH for an unpacked package). */
  readonly env: Record<string, string>;
  /** Arguments every invocation needs (e.g. --module-path). */
  readonly baseArgs: readonly string[];
  /** First line of `--version` / `-v`. */
  readonly version: string;
  /** rsyslog: the folder of its loadable modules (lmnsd_gtls.so, lmnsd_ossl.so). */
  readonly moduleDir?: string;
}

const SBIN = ['/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/bin', '/usr/local/bin'];
const LIBDIRS = ['/usr/lib', '/usr/lib64', '/usr/local/lib'];

function onPath(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SBIN];
  for (const d of dirs) {
    const p = join(d, name);
    if (existsSync(p)) return p;
  }
  return null;
}

function firstLine(path: string, args: string[], env: Record<string, string> = {}): string | null {
  try {
    const out = execFileSync(path, args, { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
    return out.split('\n')[0]!.trim();
  } catch {
    return null;
  }
}

/** rsyslogd with its GnuTLS network stream driver (package rsyslog-gnutls), installed or unpacked, or null. */
export function findRsyslog(): ClientBinary | null {
  const candidates = [process.env.RSYSLOGD_BIN, onPath('rsyslogd'), '/opt/rsyslog/usr/sbin/rsyslogd'].filter((p): p is string => !!p && existsSync(p));
  for (const path of candidates) {
    const prefix = dirname(dirname(dirname(path)));
    const unpacked = !path.startsWith('/usr/') && !path.startsWith('/sbin/');
    // An unpacked package keeps its modules under <prefix>/usr/lib/<triplet>/rsyslog: point -M there.
    const moduleDir = unpacked ? rsyslogModuleDir([join(prefix, 'usr', 'lib')]) : rsyslogModuleDir(LIBDIRS);
    if (!moduleDir) continue;
    const version = firstLine(path, ['-v']);
    if (!version) continue;
    return {
      path,
      env: {},
      baseArgs: unpacked ? ['-M', moduleDir] : [],
      version: version.replace(/\s+/g, ' ').replace(/ compiled with:$/, ''),
      moduleDir,
    };
  }
  return null;
}

/** The folder holding rsyslog's modules with lmnsd_gtls.so, under one of `libRoots`. */
function rsyslogModuleDir(libRoots: readonly string[]): string | null {
  for (const root of libRoots) {
    for (const sub of ['', 'x86_64-linux-gnu', 'aarch64-linux-gnu']) {
      const d = join(root, sub, 'rsyslog');
      if (existsSync(join(d, 'lmnsd_gtls.so'))) return d;
    }
  }
  return null;
}

/** syslog-ng, installed or unpacked from the Debian package, or null. */
export function findSyslogNg(): ClientBinary | null {
  const candidates = [process.env.SYSLOG_NG_BIN, onPath('syslog-ng'), '/opt/syslog-ng/usr/sbin/syslog-ng'].filter((p): p is string => !!p && existsSync(p));
  for (const path of candidates) {
    // An unpacked package: <prefix>/usr/sbin/syslog-ng with its library and modules in <prefix>/usr/lib/syslog-ng.
    const prefixLib = join(dirname(dirname(path)), 'lib', 'syslog-ng');
    const unpacked = !path.startsWith('/usr/') && existsSync(prefixLib);
    const env: Record<string, string> = unpacked ? { LD_LIBRARY_PATH: prefixLib } : {};
    const version = firstLine(path, ['--version'], env);
    if (!version) continue;
    const m = /\((\d+)\.(\d+)/.exec(version);
    const baseArgs: string[] = [];
    if (unpacked && m) baseArgs.push(`--module-path=${join(prefixLib, `${m[1]}.${m[2]}`)}`);
    return { path, env, baseArgs, version };
  }
  return null;
}

/** `x.y` of syslog-ng, for the `@version:` line of a main config. */
export function syslogNgConfigVersion(bin: ClientBinary): string {
  const m = /\((\d+\.\d+)/.exec(bin.version);
  return m ? m[1]! : '3.38';
}

/** openssl (for s_client), or null. */
export function findOpenssl(): ClientBinary | null {
  const path = onPath('openssl');
  if (!path) return null;
  const version = firstLine(path, ['version']);
  return version ? { path, env: {}, baseArgs: [], version } : null;
}
