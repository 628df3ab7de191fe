/**
 * Canonical JSON (docs/ledger-format.md: keys in UTF-16 code-unit order, no whitespace, numbers as
 * ECMAScript writes them) straight from the bytes of PostgreSQL's jsonb text output, without
 * JSON.parse and re-serialization: verify's hot path.
 *
 * jsonb_out writes `{"k": v, "k2": v2}`: keys ordered by (length, bytes), ": " and ", " between
 * tokens, strings escaped exactly as JSON.stringify escapes them (\" \\ \b \f \n \r \t, other
 * controls as lowercase \u00xx; PostgreSQL text holds no lone surrogates and jsonb refuses \u0000).
 * So canonicalizing is: drop the whitespace, re-sort each object's members, rewrite the rare number
 * that ECMAScript spells differently; strings are copied byte for byte.
 *
 * Soundness does not rest on this file: verify recomputes a row with the reference code
 * (JSON.parse + canonicalJson) whenever the hash computed from this output does not match, so a
 * mistake here costs time, never hides a change (a match means SHA-256 found the signed bytes).
 *
 * Optionally captures members of the value on the way (`want`), decoded as JSON.parse would: the
 * fields liftColumns() reads, so that the lifted columns are checked without parsing the event.
 *
 * One loop over the bytes with its state in locals: a version with a method per token cost 2.5x as
 * much (per-token overhead dominates: ~150 tokens per bench row). Measured with bench/verify.ts rows
 * (~0.3 KB syslog + ~1.4 KB event text) on the shared 2-core dev machine: JSON.parse +
 * canonicalJson ~14-20 µs per row; this ~3 µs.
 */

/** Which members to capture: a name maps to LEAF (the whole value) or to a nested selection. */
export type Want = ReadonlyMap<string, Want | typeof LEAF>;
export const LEAF = true;

/** Thrown (rarely) for input this fast path does not handle; the caller uses the reference code. */
export class NotCanonicalizable extends Error {
  override readonly name = 'NotCanonicalizable';
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const SPACE = 0x20;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const MAX_DEPTH = 256;
const TWO32 = 2 ** 32;

const fail = (what: string, at: number): never => {
  throw new NotCanonicalizable(`${what} at byte ${at}`);
};

/** One per thread (scratch state is reused between calls). Not re-entrant. */
export class JsonbCanonicalizer {
  // Members of the open objects, a stack: start, key end and member end in the output, key prefix.
  #mStart = new Int32Array(1024);
  #mKeyEnd = new Int32Array(1024);
  #mEnd = new Int32Array(1024);
  /** The key's first 6 bytes as a number (zero-padded: keys hold no NUL), -1 when it needs compareKeys. */
  #mPrefix = new Float64Array(1024);
  // Open objects and arrays, a stack.
  readonly #fObject = new Uint8Array(MAX_DEPTH);
  readonly #fBase = new Int32Array(MAX_DEPTH);
  readonly #fFirst = new Int32Array(MAX_DEPTH);
  readonly #fSorted = new Uint8Array(MAX_DEPTH);
  readonly #fHash = new Int32Array(MAX_DEPTH);
  readonly #fLeafStart = new Int32Array(MAX_DEPTH);
  readonly #fWant: Array<Want | undefined> = new Array(MAX_DEPTH).fill(undefined);
  readonly #fPartial: Array<Record<string, unknown> | undefined> = new Array(MAX_DEPTH).fill(undefined);
  readonly #fPending: Array<string | undefined> = new Array(MAX_DEPTH).fill(undefined);
  /**
   * Member order per key sequence: objects of one event type repeat their keys. A cached order is
   * only used after checking that it sorts this object (count - 1 comparisons), never trusted.
   */
  readonly #orders = new Map<number, Int32Array>();
  /** Per selection: its names by length (index), looked up once per captured object, not per key. */
  readonly #names = new WeakMap<Want, Array<string[] | undefined>>();
  readonly #fNames: Array<Array<string[] | undefined> | undefined> = new Array(MAX_DEPTH).fill(undefined);

  /**
   * Writes the canonical JSON of the jsonb text `src[start, stop)` into `out` at `at`; returns the
   * end offset in `out`. `out` needs 2 * (stop - start) + 64 bytes of room after `at` (objects are
   * re-sorted in the room after their end; a few number spellings are longer in ECMAScript). With
   * `want`, the captured members of a top-level object go to `capture.value`.
   */
  canonicalize(src: Buffer, start: number, stop: number, out: Buffer, at: number, want?: Want, capture?: { value: unknown }): number {
    const s = src;
    const o = out;
    let i = start;
    let w = at;
    let depth = -1;
    let m = 0;
    let expectKey = false;
    let mStart = this.#mStart;
    let mKeyEnd = this.#mKeyEnd;
    let mEnd = this.#mEnd;
    let mPrefix = this.#mPrefix;
    const fObject = this.#fObject;
    const fBase = this.#fBase;
    const fSorted = this.#fSorted;
    const fHash = this.#fHash;
    const fPartial = this.#fPartial;
    const fPending = this.#fPending;
    let topValue: unknown;
    while (i < stop) {
      const c = s[i] as number;
      if (c === QUOTE) {
        const sw = w;
        o[w++] = QUOTE;
        i++;
        // Byte by byte: a scan-then-memcpy variant for long strings measured no faster (ab test,
        // bench rows), the native call eating what the read-only scan saves.
        for (;;) {
          if (i >= stop) fail('unterminated string', i);
          const d = s[i++] as number;
          o[w++] = d;
          if (d === QUOTE) break;
          if (d === BACKSLASH) o[w++] = s[i++] as number;
        }
        if (expectKey) {
          expectKey = false;
          if (m === mStart.length) {
            this.#growMembers();
            mStart = this.#mStart;
            mKeyEnd = this.#mKeyEnd;
            mEnd = this.#mEnd;
            mPrefix = this.#mPrefix;
          }
          mStart[m] = sw;
          mKeyEnd[m] = w;
          // The key's first 6 bytes as a number; bytes that byte order gets wrong force compareKeys.
          let v = 0;
          let k = sw + 1;
          const pe = w - 1 < sw + 7 ? w - 1 : sw + 7;
          let special = false;
          for (; k < pe; k++) {
            const b = o[k] as number;
            if (b >= 0xee || b === BACKSLASH) special = true;
            v = v * 256 + b;
          }
          for (; k < sw + 7; k++) v *= 256;
          mPrefix[m] = special ? -1 : v;
          if (fPartial[depth] !== undefined) fPending[depth] = wanted(this.#fNames[depth] as Array<string[] | undefined>, o, sw + 1, w - 1);
          m++;
        }
        continue;
      }
      if (c === COLON) {
        o[w++] = COLON;
        i++;
        if (s[i] === SPACE) i++;
        if (fPending[depth] !== undefined) this.#fLeafStart[depth] = i;
        continue;
      }
      if (c === COMMA || c === RBRACE) {
        if (depth >= 0 && fObject[depth] === 1 && m > (fBase[depth] as number)) {
          // A member ends: its span, the order check against the member before it, a capture.
          const j = m - 1;
          mEnd[j] = w;
          const p = mPrefix[j] as number;
          fHash[depth] = Math.imul((fHash[depth] as number) ^ (p | 0), 0x01000193) + ((p / TWO32) | 0);
          if (fSorted[depth] === 1 && j > (fBase[depth] as number) && this.#compare(j - 1, j, o) > 0) fSorted[depth] = 0;
          const name = fPending[depth];
          if (name !== undefined) {
            fPending[depth] = undefined;
            const partial = fPartial[depth] as Record<string, unknown>;
            if (!(name in partial)) partial[name] = decode(s, this.#fLeafStart[depth] as number, i);
          }
        }
        if (c === COMMA) {
          o[w++] = COMMA;
          i++;
          if (s[i] === SPACE) i++;
          if (depth >= 0 && fObject[depth] === 1) expectKey = true;
          continue;
        }
        if (depth < 0 || fObject[depth] !== 1) fail('unexpected }', i);
        const base = fBase[depth] as number;
        if (fSorted[depth] === 0) this.#permute(base, m - base, this.#fFirst[depth] as number, w, fHash[depth] as number, o);
        m = base;
        o[w++] = RBRACE;
        i++;
        const partial = fPartial[depth];
        fPartial[depth] = undefined;
        depth--;
        expectKey = false;
        if (partial !== undefined) {
          if (depth < 0) topValue = partial;
          else if (fPending[depth] !== undefined) (fPartial[depth] as Record<string, unknown>)[fPending[depth] as string] = partial;
        }
        continue;
      }
      if (c === LBRACE || c === LBRACKET) {
        if (++depth === MAX_DEPTH) fail('nested too deep', i);
        const isObject = c === LBRACE;
        fObject[depth] = isObject ? 1 : 0;
        fBase[depth] = m;
        this.#fFirst[depth] = w + 1;
        fSorted[depth] = 1;
        fHash[depth] = 0x811c9dc5;
        fPending[depth] = undefined;
        // A wanted nested selection applies to an object value of the wanted member.
        const sel = depth === 0 ? want : fPartial[depth - 1] !== undefined && fPending[depth - 1] !== undefined ? (this.#fWant[depth - 1] as Want).get(fPending[depth - 1] as string) : undefined;
        const nested = isObject && sel !== undefined && sel !== LEAF ? (sel as Want) : undefined;
        this.#fWant[depth] = nested;
        if (nested !== undefined) this.#fNames[depth] = this.#byLength(nested);
        fPartial[depth] = nested !== undefined ? {} : undefined;
        o[w++] = c;
        i++;
        expectKey = isObject;
        if (isObject && s[i] === RBRACE) expectKey = false;
        continue;
      }
      if (c === RBRACKET) {
        if (depth < 0 || fObject[depth] !== 0) fail('unexpected ]', i);
        depth--;
        o[w++] = RBRACKET;
        i++;
        continue;
      }
      if (c === SPACE || c === 0x0a || c === 0x0d || c === 0x09) {
        i++;
        continue;
      }
      if (c === 0x74 /* t */ || c === 0x6e /* n */ || c === 0x66 /* f */) {
        const n = c === 0x66 ? 5 : 4;
        if (i + n > stop) fail('truncated literal', i);
        for (let k = 0; k < n; k++) o[w++] = s[i++] as number;
        continue;
      }
      // A number: a plain integer of at most 15 digits reads the same in both; anything else
      // (fractions, long integers, which jsonb writes without exponent) goes through Number.
      const ns = i;
      let plain = true;
      if (c === 0x2d /* - */) i++;
      const digits = i;
      for (;;) {
        const d = s[i] as number;
        if (d >= 0x30 && d <= 0x39) i++;
        else if (d === 0x2e || d === 0x65 || d === 0x45 || d === 0x2b || d === 0x2d) {
          plain = false;
          i++;
        } else break;
      }
      const nd = i - digits;
      if (nd === 0 || i > stop) fail('unexpected byte', ns);
      if (plain && nd <= 15 && (s[digits] !== 0x30 || (nd === 1 && digits === ns))) {
        for (let k = ns; k < i; k++) o[w++] = s[k] as number;
      } else {
        const v = Number(s.toString('latin1', ns, i));
        if (Number.isNaN(v)) fail('bad number', ns);
        w += o.write(Number.isFinite(v) ? String(v) : 'null', w, 'latin1');
      }
    }
    if (depth !== -1) fail('unterminated value', i);
    if (capture) capture.value = topValue;
    return w;
  }

  #growMembers(): void {
    const grow = <T extends Int32Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(a.length * 2);
      b.set(a);
      return b;
    };
    this.#mStart = grow(this.#mStart);
    this.#mKeyEnd = grow(this.#mKeyEnd);
    this.#mEnd = grow(this.#mEnd);
    this.#mPrefix = grow(this.#mPrefix);
  }

  /** Order of members a and b by key: one number comparison, unless prefixes tie or bytes need care. */
  #compare(a: number, b: number, o: Buffer): number {
    const pa = this.#mPrefix[a] as number;
    const pb = this.#mPrefix[b] as number;
    if (pa >= 0 && pb >= 0 && pa !== pb) return pa - pb;
    return compareKeys(o, this.#mStart[a] as number, this.#mKeyEnd[a] as number, this.#mStart[b] as number, this.#mKeyEnd[b] as number);
  }

  /** Rewrites the `count` members from `base` (output from `first` to `end`) in key order. */
  #permute(base: number, count: number, first: number, end: number, seqHash: number, o: Buffer): void {
    const cacheKey = (seqHash ^ count) >>> 0;
    let order = this.#orders.get(cacheKey);
    if (order === undefined || order.length !== count || !this.#sorts(order, base, o)) {
      order = new Int32Array(count);
      // Insertion sort: objects are small, and this runs once per distinct key sequence.
      for (let i = 0; i < count; i++) {
        let j = i;
        while (j > 0 && this.#compare(base + (order[j - 1] as number), base + i, o) > 0) {
          order[j] = order[j - 1] as number;
          j--;
        }
        order[j] = i;
      }
      if (this.#orders.size > 4096) this.#orders.clear();
      this.#orders.set(cacheKey, order);
    }
    // Members in order into the free room after `end` (the caller sized the buffer), then moved back.
    let w = end;
    for (let i = 0; i < count; i++) {
      if (i > 0) o[w++] = COMMA;
      const m = base + (order[i] as number);
      const s = this.#mStart[m] as number;
      const e = this.#mEnd[m] as number;
      if (e - s > 64) w += o.copy(o, w, s, e);
      else for (let k = s; k < e; k++) o[w++] = o[k] as number;
    }
    if (w - end !== end - first) fail('permutation lost bytes', first);
    o.copyWithin(first, end, w);
  }

  /** Whether `order` puts the members from `base` in strictly increasing key order. */
  #sorts(order: Int32Array, base: number, o: Buffer): boolean {
    for (let i = 1; i < order.length; i++) {
      if (this.#compare(base + (order[i - 1] as number), base + (order[i] as number), o) >= 0) return false;
    }
    return true;
  }

  #byLength(want: Want): Array<string[] | undefined> {
    let t = this.#names.get(want);
    if (t === undefined) {
      t = [];
      for (const name of want.keys()) (t[name.length] ??= []).push(name);
      this.#names.set(want, t);
    }
    return t;
  }
}

/**
 * Order of two keys (their bytes, quotes included) by UTF-16 code units. UTF-8 byte order is code
 * point order, which is UTF-16 order unless a supplementary character meets one in U+E000..U+FFFF
 * (lead bytes >= 0xEE); those, and escaped keys, are compared decoded.
 */
function compareKeys(o: Buffer, as: number, ae: number, bs: number, be: number): number {
  const la = ae - as - 2;
  const lb = be - bs - 2;
  const n = la < lb ? la : lb;
  for (let k = 1; k <= n; k++) {
    const x = o[as + k] as number;
    const y = o[bs + k] as number;
    if (x >= 0xee || y >= 0xee || x === BACKSLASH || y === BACKSLASH) {
      const a = JSON.parse(o.toString('utf8', as, ae)) as string;
      const b = JSON.parse(o.toString('utf8', bs, be)) as string;
      return a < b ? -1 : a > b ? 1 : 0;
    }
    if (x !== y) return x - y;
  }
  return la - lb;
}

/** The wanted name a key (its bytes in `o`, quotes excluded) is, if any: by length, then bytes. */
function wanted(byLength: Array<string[] | undefined>, o: Buffer, ks: number, ke: number): string | undefined {
  const names = byLength[ke - ks];
  if (names === undefined) return undefined;
  for (let n = 0; n < names.length; n++) {
    const name = names[n] as string;
    let k = 0;
    while (k < name.length && o[ks + k] === name.charCodeAt(k)) k++;
    if (k === name.length) return name;
  }
  return undefined;
}

/** A captured value (jsonb text bytes), decoded as JSON.parse does (strings without escapes directly). */
function decode(s: Buffer, vs: number, ve: number): unknown {
  while (ve > vs && s[ve - 1] === SPACE) ve--;
  const c = s[vs] as number;
  if ((c >= 0x31 && c <= 0x39) || (c === 0x30 && ve - vs === 1)) {
    // A plain integer (class_uid and the like), without a string and JSON.parse.
    let v = 0;
    let k = vs;
    while (k < ve && k - vs < 15) {
      const d = (s[k] as number) - 0x30;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
      k++;
    }
    if (k === ve) return v;
  }
  if (c === QUOTE) {
    let k = vs + 1;
    while (k < ve - 1 && s[k] !== BACKSLASH) k++;
    if (k === ve - 1) return s.toString('utf8', vs + 1, ve - 1);
  }
  return JSON.parse(s.toString('utf8', vs, ve)) as unknown;
}
