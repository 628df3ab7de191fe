/**
 * Feeds log lines through the real parser and normalizer into a Detector as committed rows (chain
 * `c`, seq 1, 2, ...), receiving each at its own event time, and collects the findings it writes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { defaultDetectionConfig, parseDetectionConfig, type DetectionConfig } from '../../src/detect/config.js';
import { Detector } from '../../src/detect/detector.js';
import type { LedgerRecord } from '../../src/ledger/types.js';
import type { PeerIdentity } from '../../src/listener/identity.js';
import { Metrics } from '../../src/metrics/registry.js';
import { liftColumns, normalize } from '../../src/normalize/index.js';
import type { OcsfEvent } from '../../src/normalize/types.js';
import { parseFrame } from '../../src/parsing/index.js';

export const PEER: PeerIdentity = { cn: 'bastion.example.net', sans: [], subject: 'CN=bastion.example.net', fingerprint: 'cd'.repeat(32), address: '192.0.2.20:40000' };

/** RFC 3164 lines get their year from this (the loghub OpenSSH sample is from December). */
export const REFERENCE_MS = Date.UTC(2024, 11, 31);

export interface Finding {
  readonly rule: string;
  readonly key: string;
  readonly message: string;
  readonly refs: Array<{ chain: string; seq: number }>;
  readonly event: OcsfEvent;
  readonly record: LedgerRecord;
}

export class Feed {
  readonly detector: Detector;
  readonly metrics = new Metrics({ defaultMetrics: false });
  readonly findings: Finding[] = [];
  seq = 0;
  /** Events by seq, to check what a finding references. */
  readonly events = new Map<number, OcsfEvent>();

  constructor(config: DetectionConfig | Record<string, unknown> = {}) {
    const c = 'bruteForce' in config ? (config as DetectionConfig) : parseDetectionConfig({ warmup: 0, ...config });
    this.detector = new Detector({
      config: c,
      metrics: this.metrics,
      now: () => REFERENCE_MS,
      enqueue: (record) => {
        const det = (record.event.unmapped as { syslog_ledger_detection: { rule: string; key: string; refs: Finding['refs'] } }).syslog_ledger_detection;
        this.findings.push({ rule: det.rule, key: det.key, message: String(record.event.message), refs: det.refs, event: record.event, record });
      },
    });
  }

  /** One line (`<pri>` prepended unless given) committed now; returns the findings it caused. */
  line(text: string, o: { pri?: number; receivedMs?: number } = {}): Finding[] {
    const raw = text.startsWith('<') || text.startsWith('{') ? text : `<${o.pri ?? 38}>${text}`;
    const parsed = parseFrame(Buffer.from(raw), { receivedAtMs: o.receivedMs ?? REFERENCE_MS, timeZone: 'UTC', format: 'auto' });
    const event = normalize(parsed, { peer: PEER, receivedAtMs: o.receivedMs ?? REFERENCE_MS, rawText: raw });
    return this.event(event, o.receivedMs ?? event.time);
  }

  /** One normalized event committed at `receivedMs`. */
  event(event: OcsfEvent, receivedMs: number = event.time): Finding[] {
    const before = this.findings.length;
    const seq = ++this.seq;
    this.events.set(seq, event);
    const row = { receivedAtUs: receivedMs * 1000, peer: PEER, raw: Buffer.alloc(0), truncated: false, format: 'rfc3164' as const, parseError: null, syslog: { facility: null, severity: null, timestamp: null, hostname: null, app_name: null, procid: null, msgid: null, structured_data: null, message: null }, event, columns: liftColumns(event), chain: 'c', seq, prevHash: Buffer.alloc(32), hash: Buffer.alloc(32) };
    this.detector.onCommitted([row]);
    return this.findings.slice(before);
  }

  lines(texts: readonly string[]): Finding[] {
    const before = this.findings.length;
    for (const t of texts) this.line(t);
    return this.findings.slice(before);
  }

  rules(): string[] {
    return this.findings.map((f) => f.rule);
  }

  async counted(rule: string): Promise<number> {
    return (await this.metrics.detections.get()).values.find((v) => v.labels.rule === rule)?.value ?? 0;
  }
}

/** `Dec 10 06:55:46`-style stamp for `ms` (UTC). */
export function stamp(ms: number): string {
  const d = new Date(ms);
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()]!;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${mon} ${String(d.getUTCDate()).padStart(2, ' ')} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

/** The shared corpus's loghub OpenSSH sample, read at test time only (never copied into the repo); null when absent. */
export function loghubOpenSsh(): string[] | null {
  const path = new URL('../../../shared/corpus/real/loghub-OpenSSH_2k.log', import.meta.url);
  if (!existsSync(path)) return null;
  return readFileSync(path, 'utf8').split(/\r?\n/).filter((l) => l.trim() !== '');
}

/** Every ref of every finding names a committed, non-internal row. */
export function expectRefsValid(feed: Feed): void {
  for (const f of feed.findings) {
    expect(f.refs.length, f.message).toBeGreaterThan(0);
    for (const r of f.refs) {
      expect(r.chain).toBe('c');
      expect(feed.events.has(r.seq), `${f.rule} ref ${r.seq}`).toBe(true);
    }
    expect(f.event.class_uid).toBe(2004);
    expect((f.event.finding_info as { related_events: Array<{ uid: string }> }).related_events.map((e) => e.uid)).toEqual(f.refs.map((r) => `${r.chain}:${r.seq}`));
    expect(f.record.format).toBe('internal');
  }
}

export { defaultDetectionConfig };
