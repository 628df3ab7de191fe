import { expect } from 'vitest';
import type { Frame } from '../../src/framing/framer.js';
import type { LedgerRecord } from '../../src/ledger/types.js';
import type { PeerIdentity } from '../../src/listener/identity.js';
import { toRecord } from '../../src/stages.js';
import { Metrics } from '../../src/metrics/registry.js';
import { defaultRedactionConfig, type RedactionConfig } from '../../src/redact/config.js';
import { redactionKeyFrom } from '../../src/redact/key.js';
import { builtinGate, builtinPatterns, type BuiltinRuleId } from '../../src/redact/patterns.js';
import { Redactor } from '../../src/redact/redactor.js';

export const PEER: PeerIdentity = {
  cn: 'web-01.example.net',
  sans: ['DNS:web-01.example.net'],
  subject: 'CN=web-01.example.net',
  fingerprint: 'ab'.repeat(32),
  address: '192.0.2.10:51515',
};

export const KEY = redactionKeyFrom(Buffer.alloc(32, 7));

const patterns = builtinPatterns(['pin']);
const gate = builtinGate(['pin']);

/** `s` masked by one built-in rule; also checks the rule's sieve and the redactor's gate are true whenever the mask changed something. */
export function mask(rule: BuiltinRuleId, s: string): string {
  let n = 0;
  const out = patterns[rule].mask(s, () => n++);
  if (out !== s) {
    expect(patterns[rule].sieve(s), `${rule} sieve must flag: ${s}`).toBe(true);
    expect(gate(s), `the gate must pass: ${s}`).toBe(true);
    expect(n).toBeGreaterThan(0);
  } else expect(n).toBe(0);
  return out;
}

/** Asserts the text comes out of every built-in rule unchanged. */
export function expectUntouched(s: string): void {
  for (const rule of Object.keys(patterns) as BuiltinRuleId[]) expect(mask(rule, s), `${rule} on ${s}`).toBe(s);
}

export function frameOf(text: string): Frame {
  const raw = Buffer.from(text, 'utf8');
  return { raw, body: raw, truncated: false, framing: 'lf' } as Frame;
}

/** A frame through toRecord with a redactor (default config unless given). */
export function ingest(text: string, o: { config?: RedactionConfig; peer?: PeerIdentity; metrics?: Metrics } = {}): { before: LedgerRecord; after: LedgerRecord; metrics: Metrics; redactor: Redactor } {
  const metrics = o.metrics ?? new Metrics({ defaultMetrics: false });
  const redactor = new Redactor(o.config ?? defaultRedactionConfig(), KEY, metrics);
  const cfg = { format: 'auto', timeZone: 'UTC' } as const;
  const before = toRecord(frameOf(text), o.peer ?? PEER, Date.UTC(2026, 10, 28) * 1000, cfg, metrics);
  return { before, after: redactor.redact(before), metrics, redactor };
}

export async function counted(metrics: Metrics, rule: string): Promise<number> {
  return (await metrics.redactions.get()).values.find((v) => v.labels.rule === rule)?.value ?? 0;
}
