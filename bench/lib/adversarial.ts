/**
 * Adversarial frames for the redaction rules and the parsers (docs/redaction.md, "Cost"): bodies
 * built from each rule's structure (its keywords and prefixes, separators, value characters and
 * terminators) in the shapes that make a backtracking or rescanning matcher slow: an atom repeated,
 * an atom and a separator repeated, one atom and a value that never ends, values that are already
 * masked or start like a mask, unterminated quotes, and long runs of blanks. Each body is wrapped in
 * every parser's format, with the same secrets planted in the middle of each, so one frame tests
 * both the time the redactor takes and that nothing slips through.
 *
 * Used by test/redact/adversarial.test.ts (nothing left unmasked) and bench/redact.ts (time per
 * frame, worst case per rule, printed by `npm run bench`).
 */

/** The structure of one rule's matcher: what starts it, what separates key and value, what a value is made of. */
interface RuleShape {
  readonly atoms: readonly string[];
  readonly seps: readonly string[];
  readonly values: readonly string[];
}

// Built at run time so that no source file holds a literal private-key marker (key scanners).
const PK = 'PRIVATE' + ' KEY';
const BEGIN = '-----BEGIN ';
const END = '-----END ';

export const SHAPES: Readonly<Record<string, RuleShape>> = {
  password: {
    atoms: ['password', 'passwd', 'passphrase', 'pass', 'pwd', 'PWD', 'secret', 'secret_key', 'secret_access_key', 'credential', 'credentials', '--password', 'identified by', 'identified with x by', "password '", 'pass-', 'secret.', 'db_password'],
    seps: ['=', ':', '"=', '\\"=', ' = ', ': "', "='", '=\\"', ':<redacted:', '=<redacted:x>'],
    values: ['a', '"', '\\', ' '],
  },
  url_password: {
    atoms: ['a://', 'postgres://u', 'x:\\/\\/', 'a://u:', 'a://:', 'redis://:', 'a:b'],
    seps: [':', '@', '/', '://'],
    values: ['p', ':', '.'],
  },
  bearer: {
    atoms: ['authorization', 'Authorization: Bearer ', 'proxy-authorization=', 'bearer ', 'Bearer\t', 'Basic ', 'authorization:\\"'],
    seps: [':', '=', ' ', '"'],
    values: ['A', '.', '/', '='],
  },
  api_key: {
    atoms: ['api_key', 'x-api-key', 'apikey', 'access_token', 'token', 'id_token', 'ghp_', 'github_pat_', 'glpat-', 'xoxb-', 'sk_live_', 'rk_test_', 'AIza', 'npm_', 'sk-', 'sk-proj-'],
    seps: ['=', ':', '"=', '\\":\\"', '-', '_'],
    values: ['A', '-', '_', '0'],
  },
  aws_access_key: {
    atoms: ['AKIA', 'ASIA', 'AKIAAKIA'],
    seps: ['', ' ', 'A'],
    values: ['A', '0', 'Z'],
  },
  private_key: {
    atoms: [BEGIN, `${BEGIN}RSA ${PK}-----`, `${BEGIN}A `, END, `${END}A `, PK, 'A '],
    seps: ['', '-----', ' ', '#012'],
    values: ['A', ' ', '-'],
  },
  jwt: {
    atoms: ['eyJ', '-eyJ', '.eyJ', '_eyJ', 'eyJaaaa.', 'eyJaaaa.bbbb.', 'eyJaaaa.bbbb'],
    seps: ['.', '-', '', ' '],
    values: ['a', '-', '.', '_'],
  },
  pan: {
    atoms: ['4111', '4111 ', '4111-', '41111111111111', '4', '2221', '3782 822463 '],
    seps: [' ', '-', '', '.'],
    values: ['1', ' ', '-', '0'],
  },
};

/** One secret per rule, each with a marker that must not appear anywhere in the stored record. */
export const PLANTED: ReadonlyArray<{ readonly rule: string; readonly text: string; readonly marker: string }> = [
  { rule: 'password', text: 'password=PLANTpw1', marker: 'PLANTpw1' },
  { rule: 'url_password', text: 'postgres://app:PLANTurl2@db/x', marker: 'PLANTurl2' },
  { rule: 'bearer', text: 'Authorization: Bearer PLANTbearer3PLANTbearer3', marker: 'PLANTbearer3' },
  { rule: 'api_key', text: 'api_key=PLANTapi4', marker: 'PLANTapi4' },
  { rule: 'aws_access_key', text: 'AKIAPLANTAWSKEY00005', marker: 'PLANTAWSKEY00005' },
  { rule: 'private_key', text: `${BEGIN}${PK}-----#012MIIPLANTpk6#012${END}${PK}-----`, marker: 'MIIPLANTpk6' },
  { rule: 'jwt', text: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjd9.PLANTjwt7sig', marker: 'PLANTjwt7' },
  { rule: 'pan', text: '5555 5555 5555 4444', marker: '5555 5555 5555 4444' },
  { rule: 'password', text: 'password=<redacted:x>PLANTdisguised8', marker: 'PLANTdisguised8' },
  { rule: 'api_key', text: 'api_key=<redacted:>PLANTdisguised9', marker: 'PLANTdisguised9' },
];

export interface AdversarialBody {
  readonly rule: string;
  /** How the body was built, e.g. `repeat(pass)` or `atom+value(eyJ,-)`. */
  readonly shape: string;
  readonly text: string;
}

function fill(unit: string, size: number): string {
  if (unit.length === 0) return '';
  return unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
}

/** Every adversarial body of every rule, each `size` characters long. */
export function adversarialBodies(size = 64 * 1024): AdversarialBody[] {
  const out: AdversarialBody[] = [];
  for (const [rule, s] of Object.entries(SHAPES)) {
    const add = (shape: string, text: string): void => void out.push({ rule, shape, text: text.slice(0, size) });
    for (const a of s.atoms) {
      add(`repeat(${a})`, fill(a, size));
      for (const sep of s.seps) add(`repeat(${a}${sep})`, fill(a + sep, size));
      for (const v of s.values) {
        add(`atom+value(${a},${v})`, a + s.seps[0] + fill(v, size));
        add(`repeat(${a}${s.seps[0]}${v})`, fill(a + s.seps[0] + v, size));
        add(`repeat(${v}${a})`, fill(v + a, size));
      }
      add(`atom+blanks(${a})`, a + fill(' \t', size));
      add(`repeat(${a}<redacted:)`, fill(`${a}${s.seps[0]}<redacted:`, size));
    }
    // Every atom of the rule, cyclically.
    add('cycle(atoms)', fill(s.atoms.join(s.seps[0]!), size));
  }
  // Every rule's atoms together.
  add2(out, 'cycle(all atoms)', fill(Object.values(SHAPES).flatMap((s) => s.atoms).join(' '), size));
  return out;
}

function add2(out: AdversarialBody[], shape: string, text: string): void {
  out.push({ rule: '*', shape, text });
}

/** A smaller set for tests: per rule, every shape of its first atoms and a sample of the rest. */
export function sampledBodies(size: number, perRule: number): AdversarialBody[] {
  const all = adversarialBodies(size);
  const byRule = new Map<string, AdversarialBody[]>();
  for (const b of all) {
    const list = byRule.get(b.rule) ?? [];
    list.push(b);
    byRule.set(b.rule, list);
  }
  const out: AdversarialBody[] = [];
  for (const list of byRule.values()) {
    const step = Math.max(1, Math.floor(list.length / perRule));
    for (let i = 0; i < list.length; i += step) out.push(list[i]!);
  }
  return out;
}

export const WRAPPERS = ['rfc5424', 'rfc5424-sd', 'rfc3164', 'json', 'json-escaped', 'unparsed'] as const;
export type Wrapper = (typeof WRAPPERS)[number];

/** `body` with the planted secrets in its middle. */
export function withPlanted(body: string): string {
  const mid = body.length >> 1;
  return `${body.slice(0, mid)} ${PLANTED.map((p) => p.text).join(' ')} ${body.slice(mid)}`;
}

/** \u00XX for every `a`, `s` and `=` of `json`: what a JSON encoder may do, and what hid secrets from the raw-text scan. */
function escapeSome(json: string): string {
  return json.replace(/[as=]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
}

/** The frame text of `body` in a parser's format (no framing). */
export function wrap(wrapper: Wrapper, body: string): string {
  switch (wrapper) {
    case 'rfc5424':
      return `<86>1 2026-12-06T12:00:00.000Z adv-host adv-app 42 ID1 - ${body}`;
    case 'rfc5424-sd':
      return `<86>1 2026-12-06T12:00:00.000Z adv-host adv-app 42 ID1 [adv@32473 v="${body.replace(/["\\\]]/g, '\\$&')}"] m`;
    case 'rfc3164':
      return `<86>Dec  6 12:00:00 adv-host adv-app[42]: ${body}`;
    case 'json':
      return JSON.stringify({ timestamp: '2026-12-06T12:00:00Z', host: 'adv-host', severity: 'info', facility: 'authpriv', tag: 'adv-app', message: body });
    case 'unparsed':
      // A PRI out of range: no parser accepts the frame, which is kept whole as raw_data (and scanned as such).
      return `<999>adv ${body}`;
    case 'json-escaped': {
      // Escapes around the planted secrets only, so the frame stays ~64 KiB (each escape is 6 bytes).
      const j = JSON.stringify({ timestamp: '2026-12-06T12:00:00Z', host: 'adv-host', tag: 'adv-app', message: body });
      const mid = j.length >> 1;
      return j.slice(0, mid - 1024) + escapeSome(j.slice(mid - 1024, mid + 1024)) + j.slice(mid + 1024);
    }
  }
}
