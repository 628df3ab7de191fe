/**
 * Parser throughput per format on one core (issue 3 targets: >= 500,000 RFC 5424 frames/s with
 * structured data, >= 1,000,000 RFC 3164 frames/s). Frames are realistic and rotate among a
 * few variants so the JIT cannot specialise on one input; `receivedAtMs` advances as a live
 * stream's would. Run: `npm run build && node dist/bench/parsers.js`; bench/run.ts imports
 * `benchParsers`.
 */
import { pathToFileURL } from 'node:url';
import { parseFrame } from '../src/parsing/index.js';
import type { ParseContext } from '../src/parsing/types.js';

export interface BenchResult {
  name: string;
  opsPerSec: number;
}

export interface BenchOptions {
  /** Measured time per format, after warm-up. Default 1000 ms. */
  readonly durationMs?: number;
}

const RFC5424 = [
  '<165>1 2024-06-15T11:59:58.123456+02:00 web-01.example.com sshd 4123 ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][origin ip="192.0.2.1"] Accepted publickey for alice from 192.0.2.10 port 52144 ssh2',
  '<86>1 2024-06-15T11:59:58.2Z db-7 sudo 991 - [meta sequenceId="18822" sysUpTime="37"] bob : TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx',
  '<38>1 2024-06-15T11:59:59.000451+00:00 bastion sshd 311 - [origin software="openssh" swVersion="9.6"][auth@32473 user="carol" method="password" result="failure"] Failed password for carol from 203.0.113.9 port 40222 ssh2',
  '<13>1 2024-06-15T12:00:00Z app-3 billing 17 AUDIT [audit@32473 event="login" user="dave" src="198.51.100.4"] \uFEFFlogin ok for dave',
];

const RFC3164 = [
  '<38>Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4',
  '<86>Jun 15 11:59:58 bastion sshd[4123]: Accepted publickey for alice from 192.0.2.10 port 52144 ssh2: RSA SHA256:abc',
  '<38>Jun 15 11:59:59 bastion sshd[4124]: Failed password for invalid user admin from 203.0.113.9 port 40222 ssh2',
  '<85>Jun  5 12:00:00 db-7 sudo: bob : TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx',
];

const auditMessage = (user: string, result: string): string =>
  JSON.stringify({
    timestamp: '2024-06-15T11:59:58.123456+00:00',
    service: 'billing',
    event_type: 'authentication',
    user,
    resource: 'auth-service',
    action: 'login',
    result,
    source_ip: '203.0.113.7',
    metadata: { mfa_used: true },
    prev_hash: 'a'.repeat(64),
    hash: 'b'.repeat(64),
  });

const JSON_FRAMES = [
  `{"@timestamp":"2024-06-15T11:59:58.123456+00:00","host":"app1","severity":"info","facility":"local0","tag":"app-audit","message":${JSON.stringify(auditMessage('alice', 'success'))}}`,
  `{"@timestamp":"2024-06-15T11:59:59.000001+00:00","host":"app2","severity":"warning","facility":"local0","tag":"app-audit","message":${JSON.stringify(auditMessage('bob', 'failure'))}}`,
  '{"@timestamp":"2024-06-15T12:00:00+02:00","host":"bastion","severity":"info","facility":"authpriv","tag":"sshd[4123]:","message":" Accepted publickey for alice from 192.0.2.10 port 52144 ssh2"}',
];

function measure(name: string, frames: readonly string[], durationMs: number): BenchResult {
  const bufs = frames.map((f) => Buffer.from(f, 'utf8'));
  const n = bufs.length;
  const start = Date.now();
  const ctx: { receivedAtMs: number; timeZone: string; format: 'auto' } = { receivedAtMs: start, timeZone: 'Europe/Berlin', format: 'auto' };
  let sink = 0;
  const batch = 4096;
  const runBatch = (): void => {
    ctx.receivedAtMs += 20; // ~200k frames/s of wall-clock progression per batch
    for (let k = 0; k < batch; k++) sink += parseFrame(bufs[k % n]!, ctx as ParseContext).syslog.facility ?? 0;
  };
  // warm-up: let the JIT settle
  const warmUntil = performance.now() + Math.min(300, durationMs / 2);
  while (performance.now() < warmUntil) runBatch();
  let ops = 0;
  const t0 = performance.now();
  let t1 = t0;
  while (t1 - t0 < durationMs) {
    runBatch();
    ops += batch;
    t1 = performance.now();
  }
  if (sink === -1) console.log(sink); // keep the result alive
  return { name, opsPerSec: Math.round((ops * 1000) / (t1 - t0)) };
}

/** Frames per second per format, parsed with `parseFrame` (auto detection) on the calling thread. */
export async function benchParsers(options: BenchOptions = {}): Promise<BenchResult[]> {
  const durationMs = options.durationMs ?? 1000;
  const results: BenchResult[] = [];
  for (const [name, frames] of [
    ['parse rfc5424 (with structured data)', RFC5424],
    ['parse rfc3164 (sshd lines)', RFC3164],
    ['parse json (rsyslog json-audit template)', JSON_FRAMES],
  ] as const) {
    results.push(measure(name, frames, durationMs));
    await new Promise((r) => setImmediate(r));
  }
  return results;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const durationMs = Number(process.env.BENCH_MS ?? 1000);
  const results = await benchParsers({ durationMs });
  const width = Math.max(...results.map((r) => r.name.length));
  console.log(`${'benchmark'.padEnd(width)}  frames/s`);
  for (const r of results) console.log(`${r.name.padEnd(width)}  ${r.opsPerSec.toLocaleString('en-US').padStart(10)}`);
}
