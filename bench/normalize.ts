/**
 * normalize() per event on one core (issue 4: normalization runs per frame on the ingest hot path;
 * budget ~3 µs/event). Inputs are parsed once up front, so this measures only ParsedMessage -> OCSF
 * (and, separately, + liftColumns). Lines: the Apache-licensed real files in test/fixtures/real
 * (beats system/auth, go-libaudit records) plus written lines in the shapes of a brute-force sshd
 * log, and seed AuditLogger JSON frames.
 * Run: `npm run build && node dist/bench/normalize.js`; bench/run.ts imports `benchNormalize`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { PeerIdentity } from '../src/listener/identity.js';
import { liftColumns, normalize } from '../src/normalize/index.js';
import { parseFrame } from '../src/parsing/index.js';
import type { ParsedMessage } from '../src/parsing/types.js';
import { measure } from './lib/measure.js';

const PEER: PeerIdentity = { cn: 'relay-01.example.net', sans: ['DNS:relay-01.example.net'], subject: 'CN=relay-01.example.net', fingerprint: 'ab'.repeat(32), address: '192.0.2.10:50514' };
const RECEIVED = Date.UTC(2024, 5, 15, 12);

function root(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('project root not found');
    dir = up;
  }
  return dir;
}

function fixture(name: string): string[] {
  return readFileSync(join(root(), 'test/fixtures/real', name), 'utf8').split('\n').filter((l) => l !== '');
}

/** Brute-force-shaped sshd traffic (written for the bench; same shapes as loghub OpenSSH_2k). */
const SSHD = [
  'Dec 10 06:55:46 bastion sshd[24200]: reverse mapping checking getaddrinfo for dsl.example.net [203.0.113.9] failed - POSSIBLE BREAK-IN ATTEMPT!',
  'Dec 10 06:55:46 bastion sshd[24200]: Invalid user webmaster from 203.0.113.9',
  'Dec 10 06:55:46 bastion sshd[24200]: input_userauth_request: invalid user webmaster [preauth]',
  'Dec 10 06:55:46 bastion sshd[24200]: pam_unix(sshd:auth): check pass; user unknown',
  'Dec 10 06:55:46 bastion sshd[24200]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9 ',
  'Dec 10 06:55:48 bastion sshd[24200]: Failed password for invalid user webmaster from 203.0.113.9 port 38926 ssh2',
  'Dec 10 06:55:48 bastion sshd[24200]: Received disconnect from 203.0.113.9: 11: Bye Bye [preauth]',
  'Dec 10 07:02:47 bastion sshd[24203]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.4  user=root',
  'Dec 10 07:02:49 bastion sshd[24203]: Failed password for root from 198.51.100.4 port 57190 ssh2',
  'Dec 10 07:07:38 bastion sshd[24206]: Accepted publickey for alice from 192.0.2.44 port 50100 ssh2: ED25519 SHA256:q9yFzV3zvI4B6f0m',
  'Dec 10 07:07:38 bastion sshd[24206]: pam_unix(sshd:session): session opened for user alice by (uid=0)',
  'Dec 10 07:07:39 bastion sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx',
];

const OTHER = [
  'Dec 10 07:10:00 web-01 CRON[1234]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)',
  'Dec 10 07:10:01 web-01 kernel: [12345.678901] e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex',
  'Dec 10 07:10:02 web-01 systemd[1]: Started Daily apt download activities.',
];

const appRecord = (user: string, type: string, action: string, result: string): string =>
  JSON.stringify({
    '@timestamp': '2024-06-15T11:59:58.123456+00:00', host: 'app1', severity: 'info', facility: 'local0', tag: 'app-audit',
    message: JSON.stringify({ timestamp: '2024-06-15T11:59:58.123456+00:00', service: 'billing', event_type: type, user, resource: 'customers', action, result, source_ip: '203.0.113.7', metadata: { mfa_used: true }, prev_hash: 'a'.repeat(64), hash: 'b'.repeat(64) }),
  });
const APP = [appRecord('alice', 'authentication', 'login', 'success'), appRecord('bob', 'data_access', 'export', 'success'), appRecord('carol', 'authentication', 'login', 'failure')];

interface Input {
  parsed: ParsedMessage;
  raw: string;
}

function prepare(frames: readonly string[]): Input[] {
  const ctx = { receivedAtMs: RECEIVED, timeZone: 'UTC', format: 'auto' as const };
  return frames.map((raw) => ({ parsed: parseFrame(Buffer.from(raw, 'utf8'), ctx), raw }));
}

const pri = (line: string): string => `<86>${line}`;

export async function benchNormalize(): Promise<Array<{ name: string; opsPerSec: number }>> {
  const beats = fixture('beats-system-auth-test.log').map(pri);
  const audit = fixture('go-libaudit-auditd.log').map(pri);
  const sshd = SSHD.map(pri);
  const other = OTHER.map(pri);
  // The mix: mostly auth traffic, some audit records, app records and unrelated programs.
  const mix = prepare([...beats, ...sshd, ...sshd, ...audit.slice(0, 40), ...APP, ...other, ...other]);
  const sets: Array<[string, Input[]]> = [
    ['normalize: mix of real lines (sshd, sudo, shadow, auditd, app, other)', mix],
    ['normalize: sshd brute force (sshd + pam_unix)', prepare(sshd)],
    ['normalize: auditd records (go-libaudit, 222 lines)', prepare(audit)],
    ['normalize: seed app-audit JSON records', prepare(APP)],
    ['normalize: Base Event (programs without a family)', prepare(other)],
  ];
  const results: Array<{ name: string; opsPerSec: number }> = [];
  for (const [name, inputs] of sets) {
    const n = inputs.length;
    const r = measure(name, n, () => {
      let last: unknown;
      for (let i = 0; i < n; i++) {
        const x = inputs[i]!;
        last = normalize(x.parsed, { peer: PEER, receivedAtMs: RECEIVED, rawText: x.raw });
      }
      return last;
    });
    results.push({ name, opsPerSec: r.opsPerSec });
  }
  const n = mix.length;
  const lifted = measure('normalize + liftColumns: mix', n, () => {
    let last: unknown;
    for (let i = 0; i < n; i++) {
      const x = mix[i]!;
      last = liftColumns(normalize(x.parsed, { peer: PEER, receivedAtMs: RECEIVED, rawText: x.raw }), x.parsed);
    }
    return last;
  });
  results.push({ name: 'normalize + liftColumns: mix', opsPerSec: lifted.opsPerSec });
  return results;
}

if (process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) {
  for (const r of await benchNormalize()) {
    console.log(`${r.name.padEnd(72)} ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(12)} events/s  ${(1e6 / r.opsPerSec).toFixed(2)} µs/event`);
  }
}
