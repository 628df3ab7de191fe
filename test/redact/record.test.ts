/**
 * redactRecord on whole records (what toRecord hands the writer): raw bytes, syslog fields, event,
 * lifted columns, HMAC of the original, per-source switches and counters; and, against a real
 * PostgreSQL, that the chain covers the stored (redacted) form and verify finds it intact.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { verifyLedger } from '../../src/verify/verify.js';
import { LedgerWriter } from '../../src/ledger/writer.js';
import { Metrics } from '../../src/metrics/registry.js';
import { defaultRedactionConfig, parseRedactionConfig } from '../../src/redact/config.js';
import { rawHmac } from '../../src/redact/key.js';
import { redactRecord } from '../../src/redact/redactor.js';
import { createTestDatabase, query } from '../helpers/db.js';
import { counted, ingest, KEY, PEER } from './helpers.js';

const SECRET_LINE = '<86>Nov 28 12:00:01 app-1 billing[311]: retry charge user=bob password=hunter2 card=4111 1111 1111 1111';

describe('redactRecord', () => {
  it('record: a clean frame comes back as the very same record (nothing copied)', () => {
    const { before, after } = ingest('<38>Nov 28 12:00:01 web-3 sshd[41234]: Failed password for invalid user admin from 203.0.113.77 port 52344 ssh2');
    expect(after).toBe(before);
    expect(after.event.redactions).toBeUndefined();
  });

  it('record: raw, syslog, message and raw_data are masked; the rules and the HMAC of the original are recorded', async () => {
    const { before, after, metrics } = ingest(SECRET_LINE);
    const stored = after.raw.toString('utf8');
    expect(stored).toBe('<86>Nov 28 12:00:01 app-1 billing[311]: retry charge user=bob password=<redacted:password> card=<redacted:pan>');
    expect(after.syslog.message).toBe('retry charge user=bob password=<redacted:password> card=<redacted:pan>');
    expect(after.event.message).toBe(after.syslog.message);
    expect(after.event.raw_data).toBe(stored);
    expect(JSON.stringify(after)).not.toMatch(/hunter2|4111 1111/);
    expect(after.event.redactions).toEqual(['pan', 'password']);
    expect(after.event.raw_hmac).toBe(rawHmac(KEY.key, Buffer.from(SECRET_LINE)));
    expect(after.event.raw_hmac_key_id).toBe(KEY.keyId);
    // The original record is not modified (the normalizer's shared objects neither).
    expect(before.raw.toString()).toBe(SECRET_LINE);
    expect(before.event.redactions).toBeUndefined();
    expect(await counted(metrics, 'password')).toBe(1);
    expect(await counted(metrics, 'pan')).toBe(1);
    expect(await counted(metrics, 'jwt')).toBe(0);
  });

  it('record: a secret in a normalized field is masked there too, and the lifted columns follow the event', () => {
    const { after } = ingest('<38>Nov 28 12:00:01 web-3 sshd[41234]: Invalid user password=hunter2 from 203.0.113.77 port 52344');
    expect(after.columns.user_name).toBe('password=<redacted:password>');
    expect(JSON.stringify(after.event)).not.toContain('hunter2');
  });

  it('record: JSON frames, including a secret spelled with \\u escapes', () => {
    const line = '{"@timestamp":"2026-11-28T12:00:00Z","host":"app-1","tag":"app:","message":"login p\\u0061ssword=hunter2 ok"}';
    const { after } = ingest(line);
    expect(after.syslog.message).toBe('login password=<redacted:password> ok');
    expect(after.raw.toString()).not.toContain('hunter2');
    expect(JSON.parse(after.raw.toString()).message).toBe('login password=<redacted:password> ok');
    expect(after.event.redactions).toEqual(['password']);
  });

  it('record: secrets in RFC 5424 structured data and header fields, and in JSON extra fields, are found too', () => {
    const sd = ingest('<134>1 2026-11-28T12:00:00.123Z app-1 billing 311 LOGIN [auth@32473 user="bob" password="hunter2"] retry');
    expect(sd.after.raw.toString()).toBe('<134>1 2026-11-28T12:00:00.123Z app-1 billing 311 LOGIN [auth@32473 user="bob" password="<redacted:password>"] retry');
    expect(JSON.stringify(sd.after.syslog)).not.toContain('hunter2');
    const host = ingest('<13>Nov 28 12:00:01 token=abc123XYZ app: hello');
    expect(host.after.raw.toString()).not.toContain('abc123XYZ');
    const extra = ingest('{"@timestamp":"2026-11-28T12:00:00Z","host":"app-1","tag":"app:","message":"hello","db_password":"hunter2"}');
    expect(extra.after.raw.toString()).not.toContain('hunter2');
    expect(JSON.stringify(extra.after.event)).not.toContain('hunter2');
  });

  it('record: non-UTF-8 bytes around a secret are stored unchanged', () => {
    const head = Buffer.from([...Buffer.from('<14>Nov 28 12:00:01 h app: caf'), 0xe9, 0xff, ...Buffer.from(' token=')]);
    const tail = Buffer.from([0x20, 0xc3, 0x28, 0xa0, 0x0a]);
    const raw = Buffer.concat([head, Buffer.from('abc123XYZ'), tail]);
    const base = ingest('<14>Nov 28 12:00:01 h app: x token=abc');
    const rec = { ...base.before, raw, event: { ...base.before.event, raw_data: raw.toString('utf8') } };
    const out = redactRecord(rec, base.redactor);
    expect(out.raw).toEqual(Buffer.concat([head, Buffer.from('<redacted:api_key>'), tail]));
  });

  it('record: turned off for a source by peer pattern, per rule or entirely', () => {
    const offForPeer = parseRedactionConfig({ except_peers: ['web-*.example.net'] });
    expect(ingest(SECRET_LINE, { config: offForPeer }).after.raw.toString()).toBe(SECRET_LINE);
    const panOff = parseRedactionConfig({ rules: { pan: { except_peers: ['web-01.example.net'] } } });
    const r = ingest(SECRET_LINE, { config: panOff });
    expect(r.after.event.redactions).toEqual(['password']);
    expect(r.after.raw.toString()).toContain('card=4111 1111 1111 1111');
    const other = ingest(SECRET_LINE, { config: panOff, peer: { ...PEER, cn: 'db-01.example.net', sans: [] } });
    expect(other.after.event.redactions).toEqual(['pan', 'password']);
    const disabled = parseRedactionConfig({ enabled: false });
    expect(ingest(SECRET_LINE, { config: disabled }).after.raw.toString()).toBe(SECRET_LINE);
  });

  it('record: custom rules from the rules file, and unknown settings are refused', () => {
    const cfg = parseRedactionConfig({ custom: [{ id: 'employee_id', pattern: 'EMP-[0-9]{6}', triggers: ['EMP-'] }] });
    const r = ingest('<14>Nov 28 12:00:01 h hr: viewed EMP-123456 file', { config: cfg });
    expect(r.after.syslog.message).toBe('viewed <redacted:employee_id> file');
    expect(() => parseRedactionConfig({ rules: { passwords: true } })).toThrow(/unknown rule "passwords"/);
    expect(() => parseRedactionConfig({ custom: [{ id: 'pan', pattern: 'x' }] })).toThrow(/already used/);
    expect(() => parseRedactionConfig({ custom: [{ id: 'bad', pattern: '(' }] })).toThrow(/custom\[0\]\.pattern/);
    expect(defaultRedactionConfig().rules.pan.enabled).toBe(true);
  });
});

describe('redacted records in the ledger', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase('sl_redact');
    await migrate(db.url);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('ledger: the chain covers the redacted form, nothing secret is stored, and verify finds it intact', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const writer = new LedgerWriter({ databaseUrl: db.url, chain: 'redact', metrics, log: pino({ level: 'silent' }), batchMaxEvents: 100, queueMaxEvents: 1000, queueMaxBytes: 1 << 20 });
    await writer.start();
    const lines = [
      SECRET_LINE,
      '{"@timestamp":"2026-11-28T12:00:00Z","host":"app-1","tag":"app:","message":"auth Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl"}',
      '<38>Nov 28 12:00:01 web-3 sshd[41234]: Accepted publickey for bob from 198.51.100.7 port 40000 ssh2',
    ];
    for (const l of lines) writer.enqueue(ingest(l, { metrics }).after);
    await writer.close();
    // Format v3: every stored column (raw, sd, the stored OCSF part) and the event the view assembles.
    const rows = await query<{ raw: Buffer; event: Record<string, unknown>; sd: unknown; ocsf: unknown }>(db.url, 'SELECT raw, event, sd, ocsf FROM ledger_rows ORDER BY seq');
    expect(rows).toHaveLength(3);
    const all = JSON.stringify(rows.map((r) => [r.raw.toString('latin1'), r.event, r.sd, r.ocsf]));
    expect(all).not.toMatch(/hunter2|4111 1111|eyJzdWIi/);
    expect(rows[1]!.event.redactions).toEqual(['bearer']);
    expect(rows[2]!.event.redactions).toBeUndefined();
    const report = await verifyLedger(db.url);
    expect(report.findings).toEqual([]);
    expect(report.rows).toBe(3);
  });
});
