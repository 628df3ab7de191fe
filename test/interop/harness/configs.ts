/**
 * The client configurations users copy from deploy/clients/ (and the README includes), made
 * runnable here by replacing only the documented values (deploy/clients/README.md):
 *
 *   syslog-ledger.example.com   -> the test server's host name (localhost)
 *   port="6514" / port(6514)    -> the test server's ephemeral port
 *   /etc/syslog-ledger/         -> the folder holding this client's ca.pem, client.pem, client-key.pem
 *   /var/log/app/audit.log      -> the file the test writes
 *   /var/log/auth.log           -> the local authentication log the test writes (rsyslog configs)
 *   /var/lib/syslog-ng          -> the syslog-ng disk-buffer folder
 *
 * Every placeholder a file contains must be replaced, and nothing that points at the system
 * (/etc, /var) may remain, so a test can neither drift from the published file nor touch the host.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const CLIENTS_DIR = resolve(import.meta.dirname, '../../../deploy/clients');

/** The published configurations, by scenario name. */
export const CLIENT_CONFIGS = {
  'rsyslog-json-audit': 'rsyslog-json-audit.conf',
  'rsyslog-rfc5424': 'rsyslog-rfc5424.conf',
  'rsyslog-traditional': 'rsyslog-traditional.conf',
  'syslog-ng-syslog-tls': 'syslog-ng-syslog-tls.conf',
  'syslog-ng-network-tls': 'syslog-ng-network-tls.conf',
  'rsyslog-relp': 'rsyslog-relp.conf',
} as const;
export type ClientConfigName = keyof typeof CLIENT_CONFIGS;

export const PLACEHOLDERS = {
  target: 'syslog-ledger.example.com',
  certDir: '/etc/syslog-ledger/',
  input: '/var/log/app/audit.log',
  authInput: '/var/log/auth.log',
  spoolDir: '/var/lib/syslog-ng',
} as const;

export interface Substitutions {
  readonly target: string;
  readonly port: number;
  /** Folder with ca.pem, client.pem, client-key.pem (no trailing slash). */
  readonly certDir: string;
  readonly input: string;
  /** The stand-in for /var/log/auth.log (rsyslog configs; required when the file names it). */
  readonly authInput?: string;
  /** syslog-ng disk-buffer folder (ignored for rsyslog, whose queue goes to its workDirectory). */
  readonly spoolDir?: string;
}

/** The published file, verbatim. */
export function publishedConfig(name: ClientConfigName): string {
  return readFileSync(resolve(CLIENTS_DIR, CLIENT_CONFIGS[name]), 'utf8');
}

/** The published file with the documented values replaced; throws if the file no longer has them. */
export function renderClientConfig(name: ClientConfigName, s: Substitutions): string {
  let text = publishedConfig(name);
  const replaceAll = (from: string | RegExp, to: string | ((m: string) => string), what: string): void => {
    const before = text;
    text = typeof to === 'string' ? text.replaceAll(from, to) : text.replaceAll(from, to);
    if (text === before) throw new Error(`${CLIENT_CONFIGS[name]}: placeholder for ${what} (${String(from)}) not found`);
  };
  replaceAll(PLACEHOLDERS.certDir, `${s.certDir}/`, 'the certificate folder');
  replaceAll(PLACEHOLDERS.input, s.input, 'the input file');
  if (text.includes(PLACEHOLDERS.authInput)) {
    if (!s.authInput) throw new Error(`${CLIENT_CONFIGS[name]}: needs an auth log file`);
    text = text.replaceAll(PLACEHOLDERS.authInput, s.authInput);
  }
  replaceAll(PLACEHOLDERS.target, s.target, 'the target host');
  replaceAll(/port="(?:6514|2514)"|port\(6514\)/g, (m: string) => (m.startsWith('port=') ? `port="${s.port}"` : `port(${s.port})`), 'the port');
  if (text.includes(PLACEHOLDERS.spoolDir)) {
    if (!s.spoolDir) throw new Error(`${CLIENT_CONFIGS[name]}: needs a spool folder`);
    text = text.replaceAll(PLACEHOLDERS.spoolDir, s.spoolDir);
  }
  const leftover = /"\/(etc|var)\/[^"]*"|example\.com/.exec(text.replace(/^\s*#.*$/gm, ''));
  if (leftover) throw new Error(`${CLIENT_CONFIGS[name]}: unreplaced system value ${leftover[0]}`);
  return text;
}
