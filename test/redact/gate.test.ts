/**
 * The redactor's gate (the one test every clean frame costs) must never let a secret through: for
 * any text a built-in pattern would change, the gate is true. Checked on generated texts made of the
 * patterns' own fragments, separators, digits and noise.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { builtinGate, builtinPatterns } from '../../src/redact/patterns.js';
/** PEM private-key markers, assembled at run time so no committed file looks like it holds a key. */
const pem = (kind: string, edge: 'BEGIN' | 'END'): string => `-----${edge} ${kind}${kind ? ' ' : ''}PRIVATE` + ' KEY-----';


const FRAGMENTS = [
  'password', 'PASSWORD', 'Passwd', 'pass', 'pwd', 'PWD', 'secret', 'secret_access_key', 'credentials', 'db_', 'api_key', 'X-Api-Key', 'apikey', 'token',
  'access_token', 'Authorization', 'Bearer', 'Basic', 'IDENTIFIED BY', '--password', '--pwd', 'https://', 'amqp:\\/\\/', 'user', '@', ':', '=', ' = ', ': ', '"', "'",
  '\\"', 'AKIA', 'ASIA', 'IOSFODNN7EXAMPLE', pem('RSA', 'BEGIN'), pem('RSA', 'END'), 'eyJhbGciOiJIUzI1NiJ9', '.', 'eyJzdWIiOiJib2IifQ',
  'ghp_', 'xoxb-', 'sk_live_', 'AIza', 'npm_', 'sk-', 'glpat-', '4111', '1111', '5500', '0000', '0004', '3782', '822463', '10005', ' ', '-', 'abcdEFGH1234ijklMNOP5678qrst',
  'hunter2', 'pin', ';', '&', ',', '(', ')', 'x',
];

describe('redaction gate', () => {
  it('gate: true for every text some built-in pattern would change', () => {
    const patterns = Object.values(builtinPatterns(['pin']));
    const gate = builtinGate(['pin']);
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 14 }), (parts) => {
        const text = parts.join('');
        const changed = patterns.some((p) => p.mask(text, () => {}) !== text);
        if (changed) expect(gate(text), text).toBe(true);
      }),
      { numRuns: 20_000 },
    );
  });

  it('gate: false on typical clean lines (sshd, sudo without PWD, RFC 5424 access logs, JSON)', () => {
    const gate = builtinGate();
    for (const line of [
      '<38>Nov 28 12:00:01 web-3 sshd[41234]: Failed password for invalid user admin from 203.0.113.77 port 52344 ssh2',
      '<38>Nov 28 12:00:01 web-3 sshd[41234]: Accepted publickey for bob from 198.51.100.7 port 40000 ssh2: ED25519 SHA256:abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ',
      '<134>1 2026-11-28T12:00:00.123456Z web-1.example.com nginx 4242 ACCESS [request@32473 method="GET" path="/api/v1/items" status="200"] user=alice bytes=1234 req=99',
      '{"@timestamp":"2026-11-28T12:00:00.123456+00:00","host":"app-1","severity":"info","facility":"authpriv","tag":"sshd[77]:","message":"Accepted password for bob from 198.51.100.7 port 40000 ssh2"}',
    ]) {
      expect(gate(line), line).toBe(false);
    }
  });
});
