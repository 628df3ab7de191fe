/**
 * Reads a few members out of a stored event's JSON text without parsing the rest: verify's fast path
 * checks the lifted columns with liftColumns() of just the members it reads (verify-range.ts).
 *
 * The text is the canonical JSON the writer hashed (docs/ledger-format.md: no whitespace, each
 * member once), and the fast path only trusts what it captured when the row's hash matched, that
 * is when these bytes are the writer's own. So the scanner needs to be right on canonical JSON
 * only; on anything else (whitespace, a json field stored as jsonb, a malformed text) it throws
 * NotCanonicalizable and the reference code (JSON.parse) decides.
 *
 * Not merged with src/parsing/json-scan.ts, on purpose: that one reads whatever a sender wrote
 * (RFC 8259 in full, whitespace anywhere) and must name the byte where it stops being JSON; this one
 * reads only canonical JSON, skips whole strings with indexOf, and gives up at the first surprise.
 * One scanner for both grammars would make the frame validator lenient or this hot path slower.
 * They share the byte constants (src/ascii.ts).
 *
 * Captured values are decoded by JSON.parse, so they are what the reference code would see. Skipped
 * values cost one pass over their bytes; strings, most of an event's bytes (raw_data, message), are
 * skipped with the native indexOf.
 */

/** Which members to capture: a name maps to LEAF (the whole value) or to a nested selection. */
export type Want = ReadonlyMap<string, Want | typeof LEAF>;
import { NotCanonicalizable } from '../errors.js';
import { BACKSLASH, COLON, COMMA, DASH as MINUS, DIGIT_0, DIGIT_9, LBRACE, LBRACKET, QUOTE, RBRACE, RBRACKET } from '../ascii.js';
export const LEAF = true;

const LOWER_T = 0x74;
const LOWER_F = 0x66;
const LOWER_N = 0x6e;

const fail = (what: string, at: number): never => {
  throw new NotCanonicalizable(`${what} at byte ${at}`);
};

/** A selection as byte strings, matched against keys in place (no string made for a skipped key). */
interface Compiled {
  readonly keys: readonly string[];
  readonly bytes: readonly Buffer[];
  readonly subs: ReadonlyArray<Compiled | null>;
  /** Indexes into keys by byte length: most keys are ruled out by their length alone. */
  readonly byLength: ReadonlyArray<readonly number[] | undefined>;
}
const compiledOf = new WeakMap<Want, Compiled>();

function compile(want: Want): Compiled {
  let c = compiledOf.get(want);
  if (c === undefined) {
    const keys = [...want.keys()];
    const bytes = keys.map((k) => Buffer.from(k, 'utf8'));
    const byLength: number[][] = [];
    bytes.forEach((k, i) => (byLength[k.length] ??= []).push(i));
    c = {
      keys,
      bytes,
      byLength,
      subs: keys.map((k) => {
        const sel = want.get(k);
        return sel === LEAF || sel === undefined ? null : compile(sel);
      }),
    };
    compiledOf.set(want, c);
  }
  return c;
}

/**
 * The members of the JSON object in `b[start, stop)` that `want` selects, as JSON.parse would give
 * them (a nested selection of a member that is not an object captures the whole member).
 */
export function captureMembers(b: Buffer, start: number, stop: number, want: Want): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const end = object(b, start, stop, compile(want), out);
  if (end !== stop) fail('trailing bytes', end);
  return out;
}

/** Captures from the object at `p` into `out`; returns the offset after it. */
function object(b: Buffer, p: number, stop: number, want: Compiled, out: Record<string, unknown>): number {
  if (b[p] !== LBRACE) fail('expected an object', p);
  p++;
  if (b[p] === RBRACE) return p + 1;
  for (;;) {
    if (b[p] !== QUOTE) fail('expected a key', p);
    const keyEnd = stringEnd(b, p, stop);
    const i = selected(b, p, keyEnd, want);
    if (b[keyEnd] !== COLON) fail('expected :', keyEnd);
    const v = keyEnd + 1;
    let q: number;
    const sub = i < 0 ? null : want.subs[i];
    if (sub !== null && sub !== undefined && b[v] === LBRACE) {
      const inner: Record<string, unknown> = {};
      q = object(b, v, stop, sub, inner);
      out[want.keys[i] as string] = inner;
    } else {
      q = valueEnd(b, v, stop);
      if (i >= 0) out[want.keys[i] as string] = leaf(b, v, q);
    }
    const c = b[q];
    if (c === RBRACE) return q + 1;
    if (c !== COMMA) fail('expected , or }', q);
    p = q + 1;
  }
}

/** Which of `want`'s keys the key quoted at [p, end) is, or -1. */
function selected(b: Buffer, p: number, end: number, want: Compiled): number {
  const from = p + 1;
  const len = end - 1 - from;
  const candidates = want.byLength[len];
  if (candidates !== undefined) for (const i of candidates) {
    const n = want.bytes[i] as Buffer;
    let k = 0;
    while (k < len && n[k] === b[from + k]) k++;
    if (k === len) return i;
  }
  // An escaped key can only match in its decoded form (rare: our keys are plain).
  return hasBackslash(b, from, end) ? want.keys.indexOf(JSON.parse(b.toString('utf8', p, end)) as string) : -1;
}

/** A captured value, decoded as JSON.parse decodes it. */
function leaf(b: Buffer, v: number, q: number): unknown {
  const c = b[v] as number;
  if (c === QUOTE) {
    if (!hasBackslash(b, v + 1, q)) return b.toString('utf8', v + 1, q - 1);
  } else if (c >= DIGIT_0 && c <= DIGIT_9 && q - v < 16 && (c !== DIGIT_0 || q - v === 1)) {
    // A plain non-negative integer (the ids): its digits, exactly, below 2^53.
    let n = 0;
    let k = v;
    for (; k < q; k++) {
      const d = (b[k] as number) - DIGIT_0;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
    }
    if (k === q) return n;
  }
  return JSON.parse(b.toString('utf8', v, q));
}

/** Whether b[from, to) holds a backslash (short spans: keys and captured strings). */
function hasBackslash(b: Buffer, from: number, to: number): boolean {
  for (let k = from; k < to; k++) if (b[k] === BACKSLASH) return true;
  return false;
}

/** The offset after the string whose opening quote is at `p` (byte by byte: faster than indexOf here). */
function stringEnd(b: Buffer, p: number, stop: number): number {
  let q = p + 1;
  while (q < stop) {
    const d = b[q];
    if (d === QUOTE) return q + 1;
    q += d === BACKSLASH ? 2 : 1;
  }
  return fail('unterminated string', p);
}

/** The offset after the value at `p` (string, object, array, number, true, false, null). */
function valueEnd(b: Buffer, p: number, stop: number): number {
  const c = b[p];
  if (c === QUOTE) return stringEnd(b, p, stop);
  if (c === LBRACE || c === LBRACKET) {
    let depth = 0;
    let q = p;
    while (q < stop) {
      const d = b[q] as number;
      if (d === QUOTE) {
        q = stringEnd(b, q, stop);
        continue;
      }
      if (d === LBRACE || d === LBRACKET) depth++;
      else if (d === RBRACE || d === RBRACKET) {
        if (--depth === 0) return q + 1;
      }
      q++;
    }
    return fail('unterminated value', p);
  }
  // A number, true, false or null: compact JSON has no whitespace before it.
  if (!(c === MINUS || (c !== undefined && c >= DIGIT_0 && c <= DIGIT_9) || c === LOWER_T || c === LOWER_F || c === LOWER_N)) fail('expected a value', p);
  let q = p + 1;
  while (q < stop) {
    const d = b[q] as number;
    if (d === COMMA || d === RBRACE || d === RBRACKET) break;
    q++;
  }
  return q;
}
