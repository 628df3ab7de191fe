/**
 * captureMembers (verify's fast path for the lifted columns) against JSON.parse: on canonical JSON
 * it must capture exactly what JSON.parse gives for the selected members; on other spellings it may
 * only refuse (NotCanonicalizable), never answer differently.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/ledger/canonical.js';
import { NotCanonicalizable } from '../../src/errors.js';
import { captureMembers, LEAF, type Want } from '../../src/verify/capture.js';

const WANT: Want = new Map<string, Want | typeof LEAF>([
  ['a', LEAF],
  ['o', new Map<string, Want | typeof LEAF>([['x', LEAF], ['deep', new Map([['y', LEAF]])]])],
  ['é"\\', LEAF],
]);

/** What JSON.parse gives for the members WANT selects. */
function project(v: unknown, want: Want): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, sel] of want) {
    if (!Object.hasOwn(v as object, k)) continue;
    const m = (v as Record<string, unknown>)[k];
    out[k] = sel !== LEAF && m !== null && typeof m === 'object' && !Array.isArray(m) ? project(m, sel) : m;
  }
  return out;
}

function capture(text: string, want: Want = WANT): Record<string, unknown> {
  const b = Buffer.from(`xx${text}yy`, 'utf8');
  return captureMembers(b, 2, b.length - 2, want);
}

describe('captureMembers', () => {
  it('captures the selected members of an event as JSON.parse does, skipping the rest', () => {
    const event = {
      raw_data: 'a "quoted" \\ back\\\\slash } ] { [ , : end\\',
      a: { nested: ['x', { y: '}' }], n: -1.5e-7 },
      o: { x: 'é "x" \u2028', deep: { y: null, z: [1, 2, 3] }, other: true },
      'é"\\': 12,
      unmapped: { list: [[], {}, '', '\\"'] },
    };
    const text = canonicalJson(event);
    expect(capture(text)).toEqual(project(event, WANT));
  });

  it('a nested selection of a member that is not an object captures the member whole', () => {
    expect(capture(canonicalJson({ o: ['x', 1] }))).toEqual({ o: ['x', 1] });
    expect(capture(canonicalJson({ o: null }))).toEqual({ o: null });
    expect(capture('{}')).toEqual({});
  });

  it('property: on canonical JSON of any object, equals JSON.parse projected', () => {
    const key = fc.constantFrom('a', 'o', 'x', 'deep', 'y', 'é"\\', 'z', '"', '\\');
    const obj = fc.letrec((tie) => ({
      value: fc.oneof({ maxDepth: 4 }, fc.string(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), tie('object'), fc.array(tie('value'), { maxLength: 4 })),
      object: fc.dictionary(key, tie('value'), { maxKeys: 6 }),
    })).object;
    fc.assert(
      fc.property(obj, (v) => {
        const text = canonicalJson(v);
        expect(capture(text)).toEqual(project(JSON.parse(text), WANT));
      }),
      { numRuns: 2000 },
    );
  });

  it('strings of every length around the short/long switch, with escaped quotes and backslashes anywhere', () => {
    for (let n = 0; n < 120; n++) {
      for (const tail of ['', '\\', '"', '\\"', 'é']) {
        const a = 'x'.repeat(n) + tail;
        const event = { a, b: `${tail}${'y'.repeat(n)}`, o: { x: a, skip: { s: a } } };
        expect(capture(canonicalJson(event))).toEqual(project(event, WANT));
      }
    }
  });

  it('refuses what is not compact JSON, or not an object, or runs past its end', () => {
    for (const bad of ['{"a": 1}', '{ "a":1}', '[1]', '{"a":1', '{"a":"x}', '{"a":1}}', '{"a"1}', '{"a":}']) {
      expect(() => capture(bad), bad).toThrow(NotCanonicalizable);
    }
  });
});
