/**
 * The console's options (`serve --console ...`, docs/console.md) and their checked form. The
 * console is off unless `--console` is given. A loopback address may use a token; any other
 * address must use HTTPS with client certificates (`--console-allow`), or serve refuses to start.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { durationMs, hostPort, list, str, type OptionSpecs, type OptionValues } from '../config.js';
import { ConfigError } from '../errors.js';

export const CONSOLE_OPTIONS = {
  console: { type: 'string', arg: 'HOST:PORT', help: 'read-only web console (docs/console.md); unset: off. npm start serves it at 127.0.0.1:9465' },
  'console-token-file': { type: 'string', arg: 'FILE', help: 'console login token (first line); unset: one is generated and printed at start' },
  'console-allow': { type: 'string', multiple: true, arg: 'PATTERN', help: 'client certificate CN/SAN (from --tls-ca) allowed into the console, * wildcards; makes the console HTTPS; required for a non-loopback --console' },
  'console-request-timeout': { type: 'string', default: '30s', arg: 'DURATION', help: 'a console request (and each of its queries) is cut off after this long' },
} as const satisfies OptionSpecs;

/** The console's configuration, checked. */
export interface ConsoleConfig {
  readonly host: string;
  readonly port: number;
  /** The login token (token login is offered only without client certificates). */
  readonly token: string;
  /** True when the token was generated here (serve prints the login URL). */
  readonly tokenGenerated: boolean;
  /** Client certificate CN/SAN patterns; non-empty: HTTPS with required client certificates. */
  readonly allow: readonly string[];
  readonly requestTimeoutMs: number;
}

/** Whether an address only reaches this machine. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host.startsWith('::ffff:127.');
  return false;
}

/** The console's configuration from serve's option values; undefined when `--console` is not given. */
export function consoleConfig(values: OptionValues): ConsoleConfig | undefined {
  if (str(values, 'console') === undefined) return undefined;
  const { host, port } = hostPort(values, 'console');
  const allow = list(values, 'console-allow');
  if (!isLoopback(host) && allow.length === 0) {
    throw new ConfigError(
      '--console-allow',
      `the console at ${host}:${port} is not on a loopback address: it must use HTTPS with client certificates; give --console-allow PATTERN (the CN or SAN of the certificates, issued by --tls-ca, that may log in), or bind --console to 127.0.0.1`,
    );
  }
  const tokenFile = str(values, 'console-token-file');
  let token: string;
  if (tokenFile !== undefined) {
    try {
      token = (readFileSync(tokenFile, 'utf8').split('\n')[0] ?? '').trim();
    } catch (err) {
      throw new ConfigError('--console-token-file', `cannot read ${tokenFile}: ${(err as Error).message}`);
    }
    if (token.length < 16) throw new ConfigError('--console-token-file', `${tokenFile}: the token must be at least 16 characters`);
  } else {
    token = randomBytes(24).toString('base64url');
  }
  return { host, port, token, tokenGenerated: tokenFile === undefined, allow, requestTimeoutMs: durationMs(values, 'console-request-timeout', 1000) };
}
