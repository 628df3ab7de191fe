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
import type { RedactionConfig } from './config.js';
import { rawHmac, type RedactionKey } from './key.js';
import { builtinGate, builtinPatterns, customPattern, keyRule, maskOf, REDACTION_RULES, type Pattern } from './patterns.js';

interface Compiled {
  readonly pattern: Pattern;
  readonly except: readonly RegExp[];
}

function wildcard(p: string): RegExp {
  return new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
}

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
  /** The patterns that apply to a peer, per connection identity (identities are one object per connection). */
  readonly #perPeer = new WeakMap<PeerIdentity, readonly Pattern[]>();

  constructor(config: RedactionConfig, key: RedactionKey, metrics?: Metrics) {
    this.#key = key;
    this.#metrics = metrics;
    this.#enabled = config.enabled;
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
    if (metrics !== undefined && config.enabled) for (const c of all) metrics.redactions.inc({ rule: c.pattern.id }, 0);
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
   */
  redact(record: LedgerRecord): LedgerRecord {
    if (record.format === 'internal') return record;
    const patterns = this.#patternsFor(record.peer);
    if (patterns.length === 0) return record;
    const rawData = record.event.raw_data;
    const text = typeof rawData === 'string' ? rawData : record.raw.toString('latin1');
    // JSON frames may spell a secret with \u escapes that only the decoded fields show.
    const escaped = record.format === 'json' && text.indexOf('\\u') !== -1;
    if (!escaped && !this.#gate(gateText(record, text))) return record;
    let flagged: Pattern[] | undefined;
    for (const p of patterns) {
      if (escaped || p.sieve(text)) (flagged ??= []).push(p);
    }
    if (flagged === undefined) return record;

    const hits: Hits = new Map();
    const rawText = record.raw.toString('latin1');
    let maskedRaw = rawText;
    for (const p of flagged) maskedRaw = p.mask(maskedRaw, () => hits.set(p.id, (hits.get(p.id) ?? 0) + 1));
    if (hits.size === 0 && !escaped) return record;
    // Mask the fields with the rules that matched the raw frame (all flagged ones for escaped JSON).
    const use = escaped ? flagged : flagged.filter((p) => hits.has(p.id));
    const fieldHits: Hits = new Map();
    const walk: Walk = { patterns: use, ids: new Set(use.map((p) => p.id)), keyRule: this.#keyRule, gate: this.#gate, hits: fieldHits };
    const event = maskValue(record.event, walk) as OcsfEvent;
    const syslog = maskValue(record.syslog, walk) as SyslogFields;
    const onlyInFields = [...fieldHits.keys()].filter((id) => !hits.has(id));
    if (onlyInFields.length > 0) {
      // A secret spelled with \u escapes in the raw JSON: spell printable ASCII plainly (the same
      // JSON value) and mask again, so the raw bytes do not keep what the fields lost.
      const plain = unescapeAscii(maskedRaw);
      let again = plain;
      for (const p of use) again = p.mask(again, () => {});
      if (again !== plain) maskedRaw = again;
      for (const id of onlyInFields) hits.set(id, fieldHits.get(id)!);
    }
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
 * What the gate reads: the frame text without what cannot hold a secret (bench/ingest.ts: the gate
 * costs a few ns per character, and these parts are a fifth to a half of a typical frame):
 *   RFC 3164 / 5424  from after the timestamp (the PRI, VERSION and timestamp are digits and
 *                    punctuation the parser checked)
 *   JSON             only the message, when it is the frame's only free text (no unknown fields,
 *                    no structured data): the rest is the template's keys, a timestamp, a host,
 *                    a severity, a facility and a tag (the seed's json-audit template)
 * Anything else, or a frame whose text does not line up with its parsed fields: the whole text.
 */
function gateText(record: LedgerRecord, text: string): string {
  const s = record.syslog;
  if (record.format === 'json') {
    const msg = s.message;
    if (typeof msg !== 'string' || s.structured_data !== null) return text;
    const unmapped = record.event.unmapped as { extra?: unknown } | undefined;
    return unmapped?.extra === undefined ? msg : text;
  }
  if (record.format !== 'rfc3164' && record.format !== 'rfc5424') return text;
  const ts = record.format === 'rfc3164' ? s.timestamp_original : s.timestamp;
  if (typeof ts !== 'string' || ts.length === 0) return text;
  const at = text.indexOf(ts);
  // The timestamp follows the PRI (and VERSION): within the first few characters.
  return at > 0 && at < 12 ? text.slice(at + ts.length) : text;
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
  if (typeof v === 'string') {
    if (v.length < 4 || !w.gate(v)) return v;
    let s = v;
    for (const p of w.patterns) s = p.mask(s, () => hit(w, p.id));
    return s;
  }
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
    const rule = typeof x === 'string' && x !== '' && !x.startsWith('<redacted:') ? w.keyRule(k) : null;
    if (rule !== null && w.ids.has(rule)) {
      y = maskOf(rule);
      hit(w, rule);
    } else y = maskValue(x, w, depth + 1);
    if (y !== x) setOwn((copy ??= { ...obj }), k, y);
  }
  return copy ?? obj;
}

/** The function `toRecord` calls: `record` as it may be stored (see Redactor.redact). */
export function redactRecord(record: LedgerRecord, redactor: Redactor): LedgerRecord {
  return redactor.redact(record);
}
