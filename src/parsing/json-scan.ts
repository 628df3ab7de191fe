/**
 * Helpers for JSON frames (RFC 8259): a validator that names the byte where a document
 * stops being JSON (V8's messages sometimes give no position, and count UTF-16 units), and a
 * walk that makes every string storable and bounds the nesting depth.
 *
 * The ledger's other JSON reader, src/verify/capture.ts, reads only the canonical JSON the writer
 * hashed and gives up on anything else; this one must accept RFC 8259 in full and say where it
 * fails, so the two stay separate (why: see capture.ts).
 */
import { setOwn } from './structured-data.js';
import { storable } from './text.js';

export interface JsonSyntaxError {
  /** Byte offset in the frame. */
  readonly pos: number;
  readonly detail: string;
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function show(buf: Buffer, i: number): string {
  if (i >= buf.length) return 'end of frame';
  const c = buf[i]!;
  if (c >= 0x21 && c <= 0x7e) return `'${String.fromCharCode(c)}'`;
  return `byte 0x${c.toString(16).padStart(2, '0')}`;
}

const LITERALS: ReadonlyArray<readonly [number, string]> = [
  [0x74, 'true'],
  [0x66, 'false'],
  [0x6e, 'null'],
];

/** The first RFC 8259 syntax error in `buf`, or null when it is one valid JSON text. Iterative. */
export function findJsonSyntaxError(buf: Buffer): JsonSyntaxError | null {
  const end = buf.length;
  // stack of open containers: 0x7b '{' or 0x5b '['
  const stack: number[] = [];
  let i = 0;
  const skipWs = (): void => {
    while (i < end && isWs(buf[i]!)) i++;
  };
  const scanString = (): JsonSyntaxError | null => {
    i++; // opening quote
    for (;;) {
      if (i >= end) return { pos: i, detail: 'unterminated string' };
      const c = buf[i]!;
      if (c === 0x22) {
        i++;
        return null;
      }
      if (c < 0x20) return { pos: i, detail: `control character 0x${c.toString(16).padStart(2, '0')} in string` };
      if (c === 0x5c) {
        const e = buf[i + 1];
        if (e === 0x75) {
          for (let k = 2; k < 6; k++) {
            const h = buf[i + k];
            const hex = h !== undefined && ((h >= 0x30 && h <= 0x39) || ((h | 0x20) >= 0x61 && (h | 0x20) <= 0x66));
            if (!hex) return { pos: i + k, detail: 'expected 4 hex digits after \\u' };
          }
          i += 6;
          continue;
        }
        if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
          i += 2;
          continue;
        }
        return { pos: i + 1, detail: `invalid escape ${show(buf, i + 1)} in string` };
      }
      i++;
    }
  };
  const scanNumber = (): JsonSyntaxError | null => {
    if (buf[i] === 0x2d) i++;
    const d = (k: number): boolean => k < end && buf[k]! >= 0x30 && buf[k]! <= 0x39;
    if (!d(i)) return { pos: i, detail: `expected a digit, found ${show(buf, i)}` };
    if (buf[i] === 0x30) i++;
    else while (d(i)) i++;
    if (buf[i] === 0x2e) {
      i++;
      if (!d(i)) return { pos: i, detail: `expected a digit after '.', found ${show(buf, i)}` };
      while (d(i)) i++;
    }
    if (buf[i] === 0x65 || buf[i] === 0x45) {
      i++;
      if (buf[i] === 0x2b || buf[i] === 0x2d) i++;
      if (!d(i)) return { pos: i, detail: `expected a digit in the exponent, found ${show(buf, i)}` };
      while (d(i)) i++;
    }
    return null;
  };

  // expecting: 0 = a value, 1 = after a value
  let expectValue = true;
  skipWs();
  for (;;) {
    if (expectValue) {
      skipWs();
      if (i >= end) return { pos: i, detail: 'unexpected end of frame, expected a value' };
      const c = buf[i]!;
      if (c === 0x7b) {
        stack.push(0x7b);
        i++;
        skipWs();
        if (buf[i] === 0x7d) {
          stack.pop();
          i++;
          expectValue = false;
          continue;
        }
        if (buf[i] !== 0x22) return { pos: i, detail: `expected a property name or '}', found ${show(buf, i)}` };
        const err = scanString();
        if (err !== null) return err;
        skipWs();
        if (buf[i] !== 0x3a) return { pos: i, detail: `expected ':' after a property name, found ${show(buf, i)}` };
        i++;
        continue;
      }
      if (c === 0x5b) {
        stack.push(0x5b);
        i++;
        skipWs();
        if (buf[i] === 0x5d) {
          stack.pop();
          i++;
          expectValue = false;
        }
        continue;
      }
      if (c === 0x22) {
        const err = scanString();
        if (err !== null) return err;
      } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
        const err = scanNumber();
        if (err !== null) return err;
      } else {
        const lit = LITERALS.find(([first]) => first === c);
        if (lit === undefined) return { pos: i, detail: `unexpected ${show(buf, i)}, expected a value` };
        const word = lit[1];
        for (let k = 0; k < word.length; k++) {
          if (buf[i + k] !== word.charCodeAt(k)) return { pos: i + k, detail: `invalid literal, expected '${word}'` };
        }
        i += word.length;
      }
      expectValue = false;
      continue;
    }
    skipWs();
    const top = stack[stack.length - 1];
    if (top === undefined) {
      if (i < end) return { pos: i, detail: `unexpected ${show(buf, i)} after the JSON value` };
      return null;
    }
    if (i >= end) return { pos: i, detail: `unexpected end of frame inside ${top === 0x7b ? 'an object' : 'an array'}` };
    const c = buf[i]!;
    if (c === 0x2c) {
      i++;
      if (top === 0x7b) {
        skipWs();
        if (buf[i] !== 0x22) return { pos: i, detail: `expected a property name, found ${show(buf, i)}` };
        const err = scanString();
        if (err !== null) return err;
        skipWs();
        if (buf[i] !== 0x3a) return { pos: i, detail: `expected ':' after a property name, found ${show(buf, i)}` };
        i++;
      }
      expectValue = true;
      continue;
    }
    if ((top === 0x7b && c === 0x7d) || (top === 0x5b && c === 0x5d)) {
      stack.pop();
      i++;
      continue;
    }
    return { pos: i, detail: `expected ',' or '${top === 0x7b ? '}' : ']'}', found ${show(buf, i)}` };
  }
}

/** Thrown (internally) by `sanitizeJson` when nesting exceeds the limit. */
export class JsonTooDeep {
  constructor(readonly depth: number) {}
}

/**
 * Makes a parsed JSON value storable in place: every string and key has U+0000 and lone
 * surrogates replaced. Returns the (possibly replaced) root. Iterative; returns null when the
 * nesting is deeper than `maxDepth` (PostgreSQL's jsonb recursion is bounded by stack depth).
 */
export function sanitizeJson(root: unknown, maxDepth: number): unknown | JsonTooDeep {
  if (typeof root === 'string') return storable(root);
  if (root === null || typeof root !== 'object') return root;
  const stack: Array<[object, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > maxDepth) return new JsonTooDeep(depth);
    if (Array.isArray(node)) {
      for (let k = 0; k < node.length; k++) {
        const v: unknown = node[k];
        if (typeof v === 'string') node[k] = storable(v);
        else if (v !== null && typeof v === 'object') stack.push([v, depth + 1]);
      }
      continue;
    }
    const obj = node as Record<string, unknown>;
    for (const key of Object.keys(obj)) {
      const v = obj[key];
      const safeKey = storable(key);
      let safeValue = v;
      if (typeof v === 'string') safeValue = storable(v);
      else if (v !== null && typeof v === 'object') stack.push([v, depth + 1]);
      if (safeKey !== key) {
        delete obj[key];
        setOwn(obj, safeKey, safeValue);
      } else if (safeValue !== v) {
        setOwn(obj, key, safeValue);
      }
    }
  }
  return root;
}
