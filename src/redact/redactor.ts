/**
 * Redaction at ingest (docs/redaction.md): between normalize and the writer, secrets are masked in
 * the raw frame, the parsed syslog fields and every string of the normalized event, so the ledger
 * never stores them. The hash chain then covers the stored (redacted) form. The unredacted frame is
 * kept only as HMAC-SHA-256 under the redaction key (`event.raw_hmac`), and `event.redactions` lists
 * the rules that fired.
 *
 * Cost on clean events (bench/ingest.ts): one pass of each enabled rule's sieve over the frame text
 * (literal indexOf or one short regex each) and nothing else; the event is returned untouched. Only a
 * frame a sieve flags is masked, and only if a rule really matched in its raw bytes (or, for JSON
 * frames with \u escapes, in a decoded field) is a new record built.
 */
import type { LedgerRecord } from '../ledger/types.js';
import { peerNames, type PeerIdentity } from '../listener/identity.js';
import type { Metrics } from '../metrics/registry.js';
import { liftColumns } from '../normalize/columns.js';
import { setOwn } from '../normalize/text.js';
import type { OcsfEvent } from '../normalize/types.js';
import type { SyslogFields } from '../parsing/types.js';
import type { RedactionBudget, RedactionConfig } from './config.js';
import { rawHmac, type RedactionKey } from './key.js';
import { BUDGET_MASK, BUDGET_RULE, builtinGate, builtinPatterns, customPattern, isMask, keyRule, maskOf, REDACTION_RULES, type Pattern, type ScanBudget } from './patterns.js';

interface Compiled {
  readonly pattern: Pattern;
  readonly except: readonly RegExp[];
}

function wildcard(p: string): RegExp {
  return new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
}

/** A `\u` escape. A regex, not indexOf('\\u'): that costs ~7 ns a character on a run of backslashes (see patterns.ts, the sieves). */
const ESCAPE_RE = /\\[u]/;

/** Per-record hit counts, by rule id. */
type Hits = Map<string, number>;

export class Redactor {
  readonly #metrics: Metrics | undefined;
  readonly #key: RedactionKey;
  readonly #enabled: boolean;
  readonly #all: readonly Compiled[];
  readonly #except: readonly RegExp[];
  /** True whenever some enabled pattern could match: the one test a clean frame costs. */
  readonly #gate: (text: string) => boolean;
  readonly #keyRule: (name: string) => string | null;
  readonly #budget: RedactionBudget;
  /** The patterns that apply to a peer, per connection identity (identities are one object per connection). */
  readonly #perPeer = new WeakMap<PeerIdentity, readonly Pattern[]>();

  /** What it was made from: a stage worker (src/workers/) makes its own from these. */
  readonly source: { readonly config: RedactionConfig; readonly key: RedactionKey };

  constructor(config: RedactionConfig, key: RedactionKey, metrics?: Metrics) {
    this.source = { config, key };
    this.#key = key;
    this.#metrics = metrics;
    this.#enabled = config.enabled;
    this.#budget = config.budget;
    this.#except = config.exceptPeers.map(wildcard);
    const builtin = builtinPatterns(config.extraPasswordKeys);
    const all: Compiled[] = [];
    for (const id of REDACTION_RULES) {
      const r = config.rules[id];
      if (r.enabled) all.push({ pattern: builtin[id], except: r.exceptPeers.map(wildcard) });
    }
    const custom: Pattern[] = [];
    for (const c of config.custom) {
      const pattern = customPattern(c.id, c.pattern, c.flags, c.triggers);
      custom.push(pattern);
      all.push({ pattern, except: c.exceptPeers.map(wildcard) });
    }
    this.#all = all;
    this.#keyRule = keyRule(config.extraPasswordKeys);
    const gate = all.length > custom.length ? builtinGate(config.extraPasswordKeys) : () => false;
    this.#gate = custom.length === 0 ? gate : (t) => gate(t) || custom.some((p) => p.sieve(t));
    if (metrics !== undefined && config.enabled) for (const rule of [...all.map((c) => c.pattern.id), BUDGET_RULE]) metrics.redactions.inc({ rule }, 0);
  }

  readonly #counters = new Map<string, { inc(n: number): void }>();

  #counter(rule: string): { inc(n: number): void } {
    let c = this.#counters.get(rule);
    if (c === undefined) {
      c = this.#metrics!.redactions.labels(rule);
      this.#counters.set(rule, c);
    }
    return c;
  }

  get keyId(): string {
    return this.#key.keyId;
  }

  /** Rule ids in force for a peer (for logs and tests). */
  rulesFor(peer: PeerIdentity): string[] {
    return this.#patternsFor(peer).map((p) => p.id);
  }

  #patternsFor(peer: PeerIdentity): readonly Pattern[] {
    let p = this.#perPeer.get(peer);
    if (p === undefined) {
      const names = peerNames(peer);
      const matches = (res: readonly RegExp[]): boolean => res.some((re) => names.some((n) => re.test(n)));
      p = !this.#enabled || matches(this.#except) ? [] : this.#all.filter((c) => !matches(c.except)).map((c) => c.pattern);
      this.#perPeer.set(peer, p);
    }
    return p;
  }

  /**
   * The record as it may be stored: itself when nothing needed masking, else a copy with raw,
   * syslog and event masked, `event.redactions` and `event.raw_hmac` set and the lifted columns
   * re-derived. Server-written (`internal`) records are never touched.
   *
   * Work per frame is bounded (docs/redaction.md, "Cost"): every pattern is linear, the raw text is
   * scanned once per flagged rule (JSON `\u` escapes of printable ASCII are spelled plainly first, so
   * there is one representation to scan, not two), each field once per rule that hit the raw text
   * (the message and long PARAM-VALUEs, verbatim parts of that text, take their masked form from it),
   * and past the budget's bytes or milliseconds the rest is masked wholesale and flagged `budget`.
   */
  redact(record: LedgerRecord): LedgerRecord {
    if (record.format === 'internal') return record;
    const patterns = this.#patternsFor(record.peer);
    if (patterns.length === 0) return record;
    const budget = this.#budget;
    const rawData = record.event.raw_data;
    const text = typeof rawData === 'string' ? rawData : record.raw.toString('latin1');
    const overBytes = record.raw.length > budget.maxBytes;
    // A JSON frame may spell a secret with \u escapes (and a reader of any other frame may take them
    // as such): scan the text with printable ASCII spelled plainly; it is stored so only when masked.
    const escaped = ESCAPE_RE.test(text);
    // Decoded once: the gate, the sieves and the masks all read this text (latin1: one char per byte).
    let rawText: string | undefined;
    let plain = text;
    if (escaped) {
      rawText = record.raw.toString('latin1');
      plain = unescapeAscii(rawText);
    }
    if (!overBytes && !this.#gate(escaped ? plain : gateText(record, text))) return record;
    const head = overBytes ? plain.slice(0, budget.maxBytes) : plain;
    let flagged: Pattern[] | undefined;
    for (const p of patterns) if (p.sieve(head)) (flagged ??= []).push(p);
    if (flagged === undefined && !overBytes) return record;

    const deadline = performance.now() + budget.maxMs;
    const hits: Hits = new Map();
    rawText ??= record.raw.toString('latin1');
    const scanned = escaped ? plain : rawText;
    let maskedRaw = overBytes ? scanned.slice(0, budget.maxBytes) : scanned;
    let timedOut = false;
    const scan: ScanBudget = { left: budget.maxMatches, spent: false };
    for (const p of flagged ?? []) {
      maskedRaw = p.mask(maskedRaw, () => hits.set(p.id, (hits.get(p.id) ?? 0) + 1), scan);
      if (performance.now() > deadline) {
        timedOut = true;
        break;
      }
    }
    if (overBytes) maskedRaw += BUDGET_MASK;
    if (hits.size === 0 && !overBytes && !timedOut && !scan.spent) return record;

    // The fields, with the rules that matched the raw frame; with every flagged rule when a budget cut
    // the raw scan short (what the raw text hid past the cut, the fields may show).
    const use = overBytes || scan.spent ? (flagged ?? []) : (flagged ?? []).filter((p) => hits.has(p.id));
    const walk: Walk = {
      patterns: use,
      ids: new Set(use.map((p) => p.id)),
      keyRule: this.#keyRule,
      gate: this.#gate,
      hits: new Map(),
      maxChars: budget.maxBytes,
      deadline,
      over: overBytes,
      timedOut,
      memo: new Map(),
      scan,
    };
    // raw_data is the frame's text: when it reads as the raw bytes do (ASCII), it is masked as they were.
    if (!timedOut) {
      seedRawText(walk.memo, rawText, maskedRaw);
      // What was scanned: the raw text, or (JSON \u escapes) the same spelled plainly.
      if (!overBytes) {
        for (const m of [record.syslog.message, record.event.message]) seedMessage(walk.memo, scanned, maskedRaw, m, record.format === 'json');
        if (record.format === 'rfc5424') seedParams(walk.memo, scanned, maskedRaw, record.syslog.structured_data);
      }
    }
    let event: OcsfEvent;
    let syslog: SyslogFields;
    if (timedOut) {
      maskedRaw = rawText.slice(0, headerEnd(record, rawText)) + BUDGET_MASK;
      ({ event, syslog } = wholesale(record, walk));
    } else {
      event = maskValue(record.event, walk) as OcsfEvent;
      syslog = maskValue(record.syslog, walk) as SyslogFields;
      if (walk.timedOut) {
        maskedRaw = rawText.slice(0, headerEnd(record, rawText)) + BUDGET_MASK;
        ({ event, syslog } = wholesale(record, walk));
      }
    }
    for (const [id, n] of walk.hits) if (!hits.has(id)) hits.set(id, n);
    if (walk.over || walk.timedOut || scan.spent) hits.set(BUDGET_RULE, (hits.get(BUDGET_RULE) ?? 0) + 1);
    if (hits.size === 0) return record;

    const out: OcsfEvent = event === record.event ? { ...event } : event;
    out.redactions = [...hits.keys()].sort();
    out.raw_hmac = rawHmac(this.#key.key, record.raw);
    out.raw_hmac_key_id = this.#key.keyId;
    const m = this.#metrics;
    if (m !== undefined) for (const [id, n] of hits) this.#counter(id).inc(n);
    return {
      ...record,
      raw: maskedRaw === rawText ? record.raw : Buffer.from(maskedRaw, 'latin1'),
      syslog,
      event: out,
      columns: liftColumns(out),
    };
  }
}


/**
 * Where a frame's free text starts: after the PRI, VERSION and timestamp of RFC 3164 / 5424 (digits
 * and punctuation the parser checked, which cannot hold a secret); 0 for anything else, or a frame
 * whose text does not line up with its parsed fields.
 */
function headerEnd(record: LedgerRecord, text: string): number {
  if (record.format !== 'rfc3164' && record.format !== 'rfc5424') return 0;
  const s = record.syslog;
  const ts = record.format === 'rfc3164' ? s.timestamp_original : s.timestamp;
  if (typeof ts !== 'string' || ts.length === 0) return 0;
  const at = text.indexOf(ts);
  // The timestamp follows the PRI (and VERSION): within the first few characters.
  return at > 0 && at < 12 ? at + ts.length : 0;
}

/**
 * What the gate reads: the frame text without what cannot hold a secret (bench/ingest.ts: the gate
 * costs a few ns per character, and these parts are a fifth to a half of a typical frame):
 *   RFC 3164 / 5424  from after the timestamp (`headerEnd`)
 *   JSON             only the message, when it is the frame's only free text (no unknown fields,
 *                    no structured data): the rest is the template's keys, a timestamp, a host,
 *                    a severity, a facility and a tag (the seed's json-audit template)
 * Anything else: the whole text.
 */
function gateText(record: LedgerRecord, text: string): string {
  const s = record.syslog;
  if (record.format === 'json') {
    const msg = s.message;
    if (typeof msg !== 'string' || s.structured_data !== null) return text;
    const unmapped = record.event.unmapped as { extra?: unknown } | undefined;
    return unmapped?.extra === undefined ? msg : text;
  }
  const end = headerEnd(record, text);
  return end > 0 ? text.slice(end) : text;
}

/**
 * The event and syslog fields of a frame whose masking ran out of time: the free text (message,
 * raw_data, structured data, unmapped members) masked whole, and every other string the gate flags.
 */
function wholesale(record: LedgerRecord, w: Walk): { event: OcsfEvent; syslog: SyslogFields } {
  const all = (v: unknown): unknown => mapStrings(v, () => BUDGET_MASK);
  const event = mapStrings(record.event, (s) => (s.length >= 4 && w.gate(s) ? BUDGET_MASK : s)) as Record<string, unknown>;
  for (const k of ['message', 'raw_data', 'unmapped']) if (k in record.event) setOwn(event, k, all((record.event as Record<string, unknown>)[k]));
  const syslog = { ...record.syslog, message: all(record.syslog.message), structured_data: all(record.syslog.structured_data) } as SyslogFields;
  return { event: event as OcsfEvent, syslog };
}

/** A copy of a JSON value with every string replaced by `leaf(string)`. */
function mapStrings(v: unknown, leaf: (s: string) => string, depth = 0): unknown {
  if (typeof v === 'string') return v === '' ? v : leaf(v);
  if (v === null || typeof v !== 'object' || depth > 32) return v;
  if (Array.isArray(v)) return v.map((x) => mapStrings(x, leaf, depth + 1));
  const o: Record<string, unknown> = {};
  for (const k of Object.keys(v)) setOwn(o, k, mapStrings((v as Record<string, unknown>)[k], leaf, depth + 1));
  return o;
}

/** `\u0041`-style escapes of printable ASCII (not `"` or `\`) written as the character itself: the same JSON. */
function unescapeAscii(s: string): string {
  return s.replace(/(?<!\\)((?:\\\\)*)\\u00([2-7][0-9a-fA-F])/g, (m, pre: string, hex: string) => {
    const c = parseInt(hex, 16);
    return c === 0x22 || c === 0x5c || c === 0x7f ? m : pre + String.fromCharCode(c);
  });
}

interface Walk {
  readonly patterns: readonly Pattern[];
  /** Ids of `patterns`: a field named like a secret is masked whole only when its rule is in force. */
  readonly ids: ReadonlySet<string>;
  readonly keyRule: (name: string) => string | null;
  /** The redactor's gate: most fields of a flagged event hold nothing, and one test rules them out. */
  readonly gate: (text: string) => boolean;
  readonly hits: Hits;
  /** Characters of one string the patterns scan; the rest is masked wholesale (`over` set). */
  readonly maxChars: number;
  /** `performance.now()` past which the walk stops (`timedOut` set) and the caller masks wholesale. */
  readonly deadline: number;
  over: boolean;
  timedOut: boolean;
  /** Long strings already masked in this record (the message is also `raw_data` and `syslog.message`). */
  readonly memo: Map<string, string>;
  /** Candidates the patterns may still examine in this record (shared with the raw text's scan). */
  readonly scan: ScanBudget;
}

/**
 * The raw frame's text (and the same without its trailing LF / CRLF, which is what `raw_data` holds)
 * mapped to its masked form, so the field is not scanned a second time.
 */
function seedRawText(memo: Map<string, string>, rawText: string, maskedRaw: string): void {
  if (rawText.length < MEMO_MIN) return;
  memo.set(rawText, maskedRaw);
  for (const eol of ['\r\n', '\n']) {
    if (rawText.endsWith(eol) && maskedRaw.endsWith(eol)) {
      memo.set(rawText.slice(0, -eol.length), maskedRaw.slice(0, -eol.length));
      break;
    }
  }
}

/**
 * The message is most of a frame, and mostly a verbatim part of its raw text: the tail of an RFC
 * 3164 / 5424 frame (after a space, before the end of line), or a JSON frame's `"message":"..."`
 * string when it holds nothing JSON escapes. When it is, and no mask touched the text before or
 * after it, its masked form is that part of the masked raw text, and the field is not scanned a
 * second time (one pass per frame instead of two). The character before it (a space or a quote) is
 * one every pattern's look-behind treats as it treats the start of the text, or (a quote) as making
 * a key quoted, which masks more, never less; a skipped value (`***`, an exact mask) hides nothing.
 */
function seedMessage(memo: Map<string, string>, rawText: string, maskedRaw: string, msg: unknown, json: boolean): void {
  if (typeof msg !== 'string' || msg.length < MEMO_MIN || memo.has(msg)) return;
  if (json) {
    for (const key of ['"message":"', '"msg":"', '"message": "', '"msg": "']) if (seedQuoted(memo, rawText, maskedRaw, msg, key)) return;
    return;
  }
  const eol = rawText.endsWith('\r\n') ? 2 : rawText.endsWith('\n') ? 1 : 0;
  const off = rawText.length - eol - msg.length;
  if (off > 0 && rawText.charCodeAt(off - 1) === 32) seedAt(memo, rawText, maskedRaw, msg, off);
}

/** `value` seeded when the first `key` (which ends in `"`) of the raw text is followed by it and a closing `"`. */
function seedQuoted(memo: Map<string, string>, rawText: string, maskedRaw: string, value: string, key: string): boolean {
  const at = rawText.indexOf(key);
  if (at === -1) return false;
  const off = at + key.length;
  return rawText.charCodeAt(off + value.length) === 34 && seedAt(memo, rawText, maskedRaw, value, off);
}

/**
 * RFC 5424 PARAM-VALUEs (the adversarial frames put their body in one): `name="value"` in the raw
 * text, verbatim when the value holds no `"`, `\` or `]` (which the raw text escapes).
 */
function seedParams(memo: Map<string, string>, rawText: string, maskedRaw: string, sd: unknown): void {
  if (sd === null || typeof sd !== 'object') return;
  for (const params of Object.values(sd as Record<string, unknown>)) {
    if (params === null || typeof params !== 'object') continue;
    for (const [name, v] of Object.entries(params as Record<string, unknown>)) {
      if (typeof v === 'string' && v.length >= MEMO_MIN && !memo.has(v)) seedQuoted(memo, rawText, maskedRaw, v, ` ${name}="`);
    }
  }
}

/** Seeds `value`'s masked form when the raw text holds it at `off` and every mask of the raw text lies within it. */
function seedAt(memo: Map<string, string>, rawText: string, maskedRaw: string, value: string, off: number): boolean {
  // slice and === (a memcmp) rather than startsWith / endsWith (a loop per character, 25 times slower).
  const end = off + value.length;
  if (end > rawText.length || rawText.slice(off, end) !== value) return false;
  const head = rawText.slice(0, off);
  const tail = rawText.slice(end);
  // Unchanged on both sides (and no mask there to be mistaken for text): every mask lies in the value.
  if (maskedRaw.length - tail.length < off || maskedRaw.slice(0, off) !== head || maskedRaw.slice(maskedRaw.length - tail.length) !== tail) return false;
  if (head.indexOf('<redacted:') !== -1 || tail.indexOf('<redacted:') !== -1) return false;
  memo.set(value, maskedRaw.slice(off, maskedRaw.length - tail.length));
  return true;
}

function hit(w: Walk, id: string): void {
  w.hits.set(id, (w.hits.get(id) ?? 0) + 1);
}

/**
 * Copy-on-write mask of every string in a JSON value: unchanged parts (shared, possibly frozen
 * objects) are returned as they are. A string under a key named like a secret (`password`,
 * `api_key`, `Authorization`: structured-data params, JSON fields) is masked whole.
 */
function maskValue(v: unknown, w: Walk, depth = 0): unknown {
  if (typeof v === 'string') return maskString(v, w);
  if (v === null || typeof v !== 'object' || depth > 32) return v;
  if (Array.isArray(v)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      const y = maskValue(x, w, depth + 1);
      if (y !== x) (copy ??= v.slice())[i] = y;
    }
    return copy ?? v;
  }
  const obj = v as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const k of Object.keys(obj)) {
    const x = obj[k];
    let y: unknown;
    const rule = typeof x === 'string' && x !== '' && !isMask(x) ? w.keyRule(k) : null;
    if (rule !== null && w.ids.has(rule)) {
      y = maskOf(rule);
      hit(w, rule);
    } else y = maskValue(x, w, depth + 1);
    if (y !== x) setOwn((copy ??= { ...obj }), k, y);
  }
  return copy ?? obj;
}

const MEMO_MIN = 256;

function maskString(v: string, w: Walk): string {
  if (v.length < 4 || w.timedOut) return v;
  const long = v.length >= MEMO_MIN;
  if (long) {
    const seen = w.memo.get(v);
    if (seen !== undefined) return seen;
  }
  const cut = v.length > w.maxChars;
  let s = cut ? v.slice(0, w.maxChars) : v;
  // A field may hold JSON text (`raw_data` of a JSON frame): scan it with \u escapes spelled plainly.
  const plain = ESCAPE_RE.test(s) ? unescapeAscii(s) : s;
  if (w.gate(plain)) {
    let masked = plain;
    for (const p of w.patterns) masked = p.mask(masked, () => hit(w, p.id), w.scan);
    if (masked !== plain) s = masked;
    if (performance.now() > w.deadline) w.timedOut = true;
  }
  if (cut) {
    s += BUDGET_MASK;
    w.over = true;
  }
  if (long) w.memo.set(v, s);
  return s;
}

/** The function `toRecord` calls: `record` as it may be stored (see Redactor.redact). */
export function redactRecord(record: LedgerRecord, redactor: Redactor): LedgerRecord {
  return redactor.redact(record);
}
