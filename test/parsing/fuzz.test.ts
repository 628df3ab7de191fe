/**
 * Property tests: no input, however hostile, makes a parser throw, hang, or return a string
 * PostgreSQL would refuse (U+0000, lone surrogates). FUZZ_RUNS scales the number of runs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FORMATS, PARSE_ERROR_REASONS, parseFrame } from '../../src/parsing/index.js';
import { parseJson } from '../../src/parsing/json.js';
import { parseRfc3164 } from '../../src/parsing/rfc3164.js';
import { parseRfc5424 } from '../../src/parsing/rfc5424.js';
import { isStorable } from '../../src/parsing/text.js';
import type { FormatOption, ParseContext, ParsedMessage } from '../../src/parsing/types.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 1500);
/** Generous: a frame of a few hundred bytes parses in microseconds. */
const MAX_MS_PER_FRAME = 250;

const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata', '+05:45', '-99:99', 'Not/AZone'];

/** What `syslog.timestamp` must look like whenever it is not null. */
const RFC3339 = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

const ctxArb: fc.Arbitrary<ParseContext> = fc.record({
  receivedAtMs: fc.integer({ min: 0, max: 4_102_444_800_000 }), // 1970 .. 2100
  timeZone: fc.constantFrom(...ZONES),
  format: fc.constantFrom<FormatOption>('auto', 'rfc5424', 'rfc3164', 'json'),
});

/** Every string (values and keys) in the result must be storable; returns the offending path. */
function unstorable(v: unknown, path = '$'): string | null {
  if (typeof v === 'string') return isStorable(v) ? null : path;
  if (v === null || typeof v !== 'object') return null;
  if (Array.isArray(v)) {
    for (let k = 0; k < v.length; k++) {
      const bad = unstorable(v[k], `${path}[${k}]`);
      if (bad !== null) return bad;
    }
    return null;
  }
  for (const [k, x] of Object.entries(v)) {
    if (!isStorable(k)) return `${path}.<key ${JSON.stringify(k)}>`;
    const bad = unstorable(x, `${path}.${k}`);
    if (bad !== null) return bad;
  }
  return null;
}

function checkResult(r: ParsedMessage, ms: number): void {
  expect(FORMATS).toContain(r.format);
  expect(r.format === 'unparsed').toBe(r.parse_error !== null);
  expect(r.parse_error === null).toBe(r.parse_error_reason === null);
  if (r.parse_error_reason !== null) expect(PARSE_ERROR_REASONS).toContain(r.parse_error_reason);
  expect(r.parse_error_reason).not.toBe('internal');
  expect(unstorable(r)).toBeNull();
  if (r.syslog.timestamp !== null) expect(r.syslog.timestamp).toMatch(RFC3339);
  expect(() => JSON.stringify(r)).not.toThrow();
  expect(ms).toBeLessThan(MAX_MS_PER_FRAME);
}

function run(parse: (frame: Buffer) => ParsedMessage, frame: Buffer): void {
  const t0 = performance.now();
  const r = parse(frame);
  checkResult(r, performance.now() - t0);
}

const SEEDS = [
  '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][p@1 a="\\"\\]\\\\"] \uFEFFAn application event',
  '<34>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% Time to make the do-nuts.',
  '<38>Mar 27 19:06:53 source_server sshd(pam_unix)[12750]: session opened for user foo by (uid=0)',
  '<0>91: *Oct 07 03:10:04: mydevice.com %CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec\'d IPSEC',
  '<190>Apr 15 21:28:13 2007 linksys app: [origin software="rsyslogd" x="1"] msg',
  '<7>2006-10-29 02:00:00.156+01:00 host prog[1]: m',
  'Feb 29 16:01:59 serverX -- MARK --',
  '<13>0000-01-01T00:00:00.1234567 h t: year zero without a zone',
  '<13>Dec 31 2399 23:59:59.999 h t: m',
  '{"@timestamp":"2024-06-15T11:59:58.123456+00:00","host":"app1","severity":"info","facility":"local0","tag":"sshd[77]:","message":" {\\"event_type\\":\\"authentication\\",\\"user\\":\\"a\\",\\"result\\":\\"ok\\"}"}',
].map((s) => Buffer.from(s, 'utf8'));

/** A seed frame with a few random byte edits: reaches the deep branches random bytes miss. */
const mutatedArb: fc.Arbitrary<Buffer> = fc
  .record({
    seed: fc.constantFrom(...SEEDS),
    edits: fc.array(
      fc.record({
        op: fc.constantFrom('set', 'insert', 'delete', 'cut'),
        at: fc.nat(),
        byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x00, 0x20, 0x22, 0x5b, 0x5d, 0x5c, 0x3d, 0x3a, 0x2d, 0x3c, 0x3e, 0xef, 0xed, 0xf4, 0xc0)),
      }),
      { maxLength: 6 },
    ),
  })
  .map(({ seed, edits }) => {
    const bytes = [...seed];
    for (const e of edits) {
      const at = bytes.length === 0 ? 0 : e.at % (bytes.length + 1);
      if (e.op === 'set' && at < bytes.length) bytes[at] = e.byte;
      else if (e.op === 'insert') bytes.splice(at, 0, e.byte);
      else if (e.op === 'delete') bytes.splice(at, 1);
      else if (e.op === 'cut') bytes.length = at;
    }
    return Buffer.from(bytes);
  });

const bytesArb: fc.Arbitrary<Buffer> = fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a));

/** Arbitrary UTF-16 code units, lone surrogates and U+0000 included. */
const nastyString = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 20 });

const jsonFrameArb: fc.Arbitrary<Buffer> = fc
  .dictionary(
    fc.oneof(nastyString, fc.constantFrom('@timestamp', 'host', 'severity', 'facility', 'tag', 'message', 'pid', 'structured_data', '__proto__', 'event_type', 'user', 'time')),
    fc.oneof(
      nastyString,
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.jsonValue({ maxDepth: 4 }),
      nastyString.map((s) => JSON.stringify({ event_type: s, user: s, metadata: { s } })),
    ),
    { maxKeys: 8 },
  )
  .map((o) => Buffer.from(JSON.stringify(o), 'utf8'));

const printUsAscii = (min: number, max: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: min, maxLength: max });
const headerField = (max: number): fc.Arbitrary<string | null> =>
  fc.oneof(fc.constant(null), printUsAscii(1, max).filter((s) => s !== '-'));
const sdName = printUsAscii(1, 32).map((s) => s.replace(/[= \]"]/g, 'x'));
/** Well-formed Unicode text without NUL (what a sender can mean). */
const paramValue = fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => s.replaceAll('\u0000', ''));

/** A frame built from the RFC 5424 ABNF, with the fields it was built from. */
const rfc5424Arb = fc
  .record({
    pri: fc.integer({ min: 0, max: 191 }),
    version: fc.integer({ min: 1, max: 999 }),
    ts: fc.option(
      fc.record({
        y: fc.integer({ min: 0, max: 9999 }),
        mo: fc.integer({ min: 1, max: 12 }),
        d: fc.integer({ min: 1, max: 28 }),
        h: fc.integer({ min: 0, max: 23 }),
        mi: fc.integer({ min: 0, max: 59 }),
        s: fc.integer({ min: 0, max: 59 }),
        frac: fc.option(fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 1, maxLength: 6 })),
        off: fc.oneof(fc.constant('Z'), fc.tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map(([sg, h, m]) => `${sg}${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`)),
      }),
    ),
    host: headerField(255),
    app: headerField(48),
    procid: headerField(128),
    msgid: headerField(32),
    sd: fc.option(fc.uniqueArray(fc.tuple(sdName, fc.uniqueArray(fc.tuple(sdName, paramValue), { maxLength: 3, selector: ([n]) => n })), { minLength: 1, maxLength: 3, selector: ([id]) => id })),
    msg: fc.option(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).map((s) => s.replaceAll('\u0000', ''))),
    bom: fc.boolean(),
  })
  .map((f) => {
    const p2 = (n: number): string => String(n).padStart(2, '0');
    const ts = f.ts === null ? null : `${String(f.ts.y).padStart(4, '0')}-${p2(f.ts.mo)}-${p2(f.ts.d)}T${p2(f.ts.h)}:${p2(f.ts.mi)}:${p2(f.ts.s)}${f.ts.frac === null ? '' : `.${f.ts.frac}`}${f.ts.off}`;
    const esc = (v: string): string => v.replace(/["\\\]]/g, (c) => `\\${c}`);
    const sdText = f.sd === null ? '-' : f.sd.map(([id, params]) => `[${id}${params.map(([n, v]) => ` ${n}="${esc(v)}"`).join('')}]`).join('');
    const msg = f.msg === null || f.msg === '' ? null : f.msg;
    const frame = `<${f.pri}>${f.version} ${ts ?? '-'} ${f.host ?? '-'} ${f.app ?? '-'} ${f.procid ?? '-'} ${f.msgid ?? '-'} ${sdText}${msg === null ? '' : ` ${f.bom ? '\uFEFF' : ''}${msg}`}`;
    const sd = f.sd === null ? null : Object.fromEntries(f.sd.map(([id, params]) => [id, Object.fromEntries(params)]));
    return {
      frame: Buffer.from(frame, 'utf8'),
      expected: { version: f.version, facility: f.pri >> 3, severity: f.pri & 7, timestamp: ts, hostname: f.host, app_name: f.app, procid: f.procid, msgid: f.msgid, structured_data: sd, message: msg },
    };
  });

describe('fuzz: RFC 5424 frames built from the ABNF', () => {
  it('fuzz: parseRfc5424 returns exactly the fields a generated frame was built from', () => {
    fc.assert(
      fc.property(rfc5424Arb, ({ frame, expected }) => {
        const r = parseRfc5424(frame);
        expect(r.parse_error).toBeNull();
        expect(r.syslog).toEqual(expected);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: parsers never throw and always return storable strings', () => {
  const parsers: Array<[string, (f: Buffer, c: ParseContext) => ParsedMessage]> = [
    ['parseFrame', (f, c) => parseFrame(f, c)],
    ['parseRfc5424', (f) => parseRfc5424(f)],
    ['parseRfc5424 compliantMsg', (f) => parseRfc5424(f, { compliantMsg: true })],
    ['parseRfc3164', (f, c) => parseRfc3164(f, c)],
    ['parseJson', (f, c) => parseJson(f, c)],
  ];

  for (const [name, parse] of parsers) {
    it(`fuzz: ${name} on random bytes`, () => {
      fc.assert(fc.property(bytesArb, ctxArb, (frame, c) => run((f) => parse(f, c), frame)), { numRuns: RUNS });
    });

    it(`fuzz: ${name} on mutated valid frames`, () => {
      fc.assert(fc.property(mutatedArb, ctxArb, (frame, c) => run((f) => parse(f, c), frame)), { numRuns: RUNS });
    });
  }

  it('fuzz: JSON objects with NUL, lone surrogates and odd values', () => {
    fc.assert(fc.property(jsonFrameArb, ctxArb, (frame, c) => run((f) => parseJson(f, c), frame)), { numRuns: RUNS });
  });

  it('fuzz: large hostile frames parse in bounded time', () => {
    const c: ParseContext = { receivedAtMs: Date.now(), timeZone: 'Europe/Berlin', format: 'auto' };
    const big = 1 << 20;
    const frames = [
      Buffer.alloc(big, 0x00),
      Buffer.alloc(big, 0xff),
      Buffer.from(`<1>1 - - - - - ${'[a b="\\\\"]'.repeat(1000)}[${'x'.repeat(big)}`),
      Buffer.from(`<1>1 - - - - - [a ${'b="\\]" '.repeat(big / 8)}`),
      Buffer.from(`<13>Jan  1 00:00:00 ${'h'.repeat(big)}`),
      Buffer.from(`<13>Jan  1 00:00:00 h ${'t['.repeat(big / 2)}`),
      Buffer.from(`{"a":${'['.repeat(big / 2)}`),
      Buffer.from(`{"a":"${'\\u0000'.repeat(big / 6)}"}`),
      Buffer.from(`{${'"k":1,'.repeat(big / 6)}"z":2}`),
    ];
    for (const f of frames) {
      for (const format of ['auto', 'rfc5424', 'rfc3164', 'json'] as const) {
        const t0 = performance.now();
        const r = parseFrame(f, { ...c, format });
        const ms = performance.now() - t0;
        expect(unstorable(r)).toBeNull();
        expect(ms).toBeLessThan(2000);
      }
    }
  });
});
