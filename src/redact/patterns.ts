/**
 * The built-in redaction patterns (docs/redaction.md). Each pattern has a cheap `sieve` (a regex or
 * literal test that is true whenever the pattern could match, and usually false on clean text) and a
 * `mask` that replaces every match in a string with `<redacted:RULE>`, keeping the surrounding syntax
 * (key, quotes, URL scheme and user) so the stored line still reads as what it was.
 *
 * Patterns run on JavaScript strings: the event's fields, and the raw frame decoded as latin1 (one
 * char per byte, so the bytes around a match come back unchanged). They match ASCII only and never
 * use `\s` (which would take byte 0xA0 of a UTF-8 sequence for a space). Every regex is linear:
 * no nested quantifiers, and values are scanned by hand.
 */

/** Built-in rule ids: the `rule` label of `syslog_ledger_redactions_total` and the entries of `event.redactions`. */
export const REDACTION_RULES = ['password', 'url_password', 'bearer', 'api_key', 'aws_access_key', 'private_key', 'jwt', 'pan'] as const;
export type BuiltinRuleId = (typeof REDACTION_RULES)[number];

/** What replaces a secret. No `"`, `\` or `]`: it may land inside a JSON string or an RFC 5424 PARAM-VALUE. */
export function maskOf(rule: string): string {
  return `<redacted:${rule}>`;
}

const MASK_RE = /^<redacted:[A-Za-z0-9_.-]{1,64}>$/;

/**
 * True when `v` is exactly one mask, `<redacted:RULE>`, and nothing else: a value that only starts
 * like one (`<redacted:x>hunter2`) is a secret in disguise and is masked like any other.
 */
export function isMask(v: string): boolean {
  return v.length <= 75 && v.charCodeAt(0) === 60 && MASK_RE.test(v);
}

export interface Pattern {
  readonly id: string;
  /** True whenever `mask` could change `text` (false positives allowed, false negatives not). */
  sieve(text: string): boolean;
  /**
   * `s` with every match masked (the same string when nothing matched); `onHit` is called once per
   * mask. Each candidate the matcher examines spends one unit of `budget`; when none is left, the
   * rest of `s` from that candidate on is masked wholesale (`<redacted:budget>`) and `budget.spent` set.
   */
  mask(s: string, onHit: () => void, budget?: ScanBudget): string;
}

/**
 * Candidates (matches a pattern examines, masked or not) the patterns may still examine in one
 * frame: every candidate costs about a microsecond, so this bounds a frame built of nothing but
 * candidates (`password"=password"=...`, `4111 4111 ...`) whatever the rules find in it.
 */
export interface ScanBudget {
  left: number;
  spent: boolean;
}

/** The rule id of what a budget masked wholesale (`event.redactions`, the `rule` label). */
export const BUDGET_RULE = 'budget';
export const BUDGET_MASK = maskOf(BUDGET_RULE);

/** Spends one candidate; true when there was none left (the caller masks the rest wholesale). */
function spend(budget: ScanBudget | undefined): boolean {
  if (budget === undefined || --budget.left >= 0) return false;
  budget.spent = true;
  return true;
}

// ---------------------------------------------------------------------------------------------------
// Values after a key: `key=value`, `key: "value"`, `"key":"value"`, `key=\"value\"` (inside JSON text).

/** Characters that end an unquoted value. Not `)`/`]`/`}`: a password may contain them, and masking one too many is safer than leaking. */
function endsValue(c: number): boolean {
  // space, tab, LF, CR, " ' , ; & `
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 34 || c === 39 || c === 44 || c === 59 || c === 38 || c === 96;
}

/** [start, end) of the value beginning at `i` (quotes excluded), or null when there is none. */
function valueAt(s: string, i: number): [number, number] | null {
  const c = s.charCodeAt(i);
  if (c === 92 /* \ */ && s.charCodeAt(i + 1) === 34) {
    // \"value\" : a quoted value inside JSON-escaped text (the raw bytes of a JSON frame).
    const end = s.indexOf('\\"', i + 2);
    const stop = end === -1 ? s.length : end;
    return stop > i + 2 ? [i + 2, stop] : null;
  }
  if (c === 34 || c === 39) {
    let j = i + 1;
    while (j < s.length) {
      const d = s.charCodeAt(j);
      if (d === 92) {
        // A backslash ends the value when it starts the closing \" of JSON-escaped text.
        if (c === 34 && s.charCodeAt(j + 1) === 34) break;
        j += 2;
        continue;
      }
      if (d === c) break;
      j++;
    }
    return j > i + 1 ? [i + 1, Math.min(j, s.length)] : null;
  }
  let j = i;
  while (j < s.length) {
    const d = s.charCodeAt(j);
    if (endsValue(d)) break;
    if (d === 92 && s.charCodeAt(j + 1) === 34) break; // \" closes the enclosing JSON string
    j++;
  }
  return j > i ? [i, j] : null;
}

/** Values that hide nothing: already masked, a run of `*`, or a JSON literal. */
function emptyValue(v: string): boolean {
  if (isMask(v)) return true;
  if (v === 'null' || v === 'true' || v === 'false' || v === '{' || v === '[') return true;
  for (let k = 0; k < v.length; k++) if (v.charCodeAt(k) !== 42) return false;
  return true;
}

const isAlnum = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/** A key match: [whole, quote before the key, key, quote after it, separator]; `index` where the quote before starts. */
export interface KeyMatch {
  readonly 0: string;
  readonly 1: string;
  readonly 2: string;
  readonly 3: string;
  readonly 4: string;
  readonly index: number;
}

/**
 * `m` of a key regex (groups: key, quote after, separator) as a KeyMatch: the optional quote before
 * the key (`\"`, `"` or `'`) and the rule that the key does not continue a word are checked here,
 * not by a lookbehind and an optional group at the regex's start, which made V8 try them at every
 * position (twice the time per character). The choice is the one the regex
 * `(?<![A-Za-z0-9])(\\?["']?)KEY...` made: the longest quote prefix that has no letter or digit
 * before it. Null when the key continues a word.
 */
function keyMatch(m: RegExpExecArray, s: string): KeyMatch | null {
  const k = m.index;
  const q1 = s.charCodeAt(k - 1);
  const quote = q1 === 34 || q1 === 39;
  let start = k;
  if (quote && s.charCodeAt(k - 2) === 92 && !isAlnum(s.charCodeAt(k - 3))) start = k - 2;
  else if (quote && !isAlnum(s.charCodeAt(k - 2))) start = k - 1;
  else if (isAlnum(q1)) return null;
  return { 0: s.slice(start, k) + m[0], 1: s.slice(start, k), 2: m[1]!, 3: m[2]!, 4: m[3]!, index: start };
}

/**
 * A key/value pattern: `re` (global) matches the key, the quote after it and the separator (three
 * groups; keyMatch checks what comes before the key); the value after it is found by `valueAt`.
 * `accept` can refuse a match (returns false) to keep a known non-secret.
 */
function keyValuePattern(id: string, re: RegExp, sieve: RegExp, accept?: (m: KeyMatch, s: string) => boolean): Pattern {
  return valuePattern(id, re, sieve, (r, s) => {
    const m = keyMatch(r, s);
    // A key inside a word (`Aid_token=`) may still end in a key (`token=`): look again from the next character.
    if (m === null) return 'retry';
    return accept === undefined || accept(m, s);
  });
}

/** A pattern whose regex matches what comes before a value (a flag, a header name); the value after it is masked. */
function valuePattern(id: string, re: RegExp, sieve: RegExp, accept?: (r: RegExpExecArray, s: string) => boolean | 'retry'): Pattern {
  const mark = maskOf(id);
  return {
    id,
    sieve: (text) => sieve.test(text),
    mask(s, onHit, budget) {
      re.lastIndex = 0;
      let out = '';
      let last = 0;
      let r: RegExpExecArray | null;
      while ((r = re.exec(s)) !== null) {
        if (spend(budget)) return out + s.slice(last, r.index) + BUDGET_MASK;
        const at = r.index + r[0].length;
        const ok = accept === undefined || accept(r, s);
        if (ok === 'retry') {
          re.lastIndex = r.index + 1;
          continue;
        }
        if (!ok) continue;
        const v = valueAt(s, at);
        if (v === null) continue;
        // The scan resumes after the value, masked or not: a skipped value is never read twice.
        re.lastIndex = Math.max(re.lastIndex, v[1]);
        if (emptyValue(s.slice(v[0], v[1]))) continue;
        out += s.slice(last, v[0]) + mark;
        last = v[1];
        onHit();
      }
      return last === 0 ? s : out + s.slice(last);
    },
  };
}

/** A pattern whose whole match (or one group of it) is the secret. */
function wholePattern(id: string, re: RegExp, sieve: (text: string) => boolean, group = 0): Pattern {
  const mark = maskOf(id);
  return {
    id,
    sieve,
    mask(s, onHit, budget) {
      re.lastIndex = 0;
      let out = '';
      let last = 0;
      let m: RegExpExecArray | null;
      while ((m = re.exec(s)) !== null) {
        if (spend(budget)) return out + s.slice(last, m.index) + BUDGET_MASK;
        if (m[0].length === 0) {
          re.lastIndex++;
          continue;
        }
        let start = m.index;
        let end = m.index + m[0].length;
        if (group > 0) {
          const g = m[group];
          if (g === undefined || g === '') continue;
          // The group is the last part before a fixed suffix: find it from the end.
          const suffix = m[0].length - m[0].lastIndexOf(g) - g.length;
          end -= suffix;
          start = end - g.length;
        }
        out += s.slice(last, start) + mark;
        last = end;
        onHit();
      }
      return last === 0 ? s : out + s.slice(last);
    },
  };
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

// ---------------------------------------------------------------------------------------------------
// password: `password=...`, `"passwd": "..."`, `db_password: ...`, `--password ...`, `IDENTIFIED BY '...'`.

const PASSWORD_KEYS = ['password', 'passwd', 'passphrase', 'pass', 'pwd', 'secret', 'secret_key', 'secret_access_key', 'secretkey', 'credential', 'credentials'];
/** Keys that, bare and unquoted, are also program names or a working directory: only `=` counts for them. */
const AMBIGUOUS_KEYS = new Set(['passwd', 'pass', 'pwd']);

function passwordPattern(extraKeys: readonly string[]): Pattern {
  const keys = [...PASSWORD_KEYS, ...extraKeys].map((k) => escapeRe(k.toLowerCase())).sort((a, b) => b.length - a.length);
  // (1) quote before the key, (2) the key, (3) quote after it, (4) the separator. The key must not
  // continue a word (`bypass=`), but may end a compound one (`db_password=`, `mysql.root.password=`).
  const re = new RegExp(`(${keys.join('|')})(\\\\?["']?)[ \\t]*([=:])[ \\t]*`, 'gi');
  const cli = new RegExp(`(?<![A-Za-z0-9-])--(?:${keys.join('|')})[ \\t]+(?=[^ \\t-])|\\bidentified[ \\t]+(?:with[ \\t]+[A-Za-z0-9_]+[ \\t]+)?by[ \\t]+(?=['"])|(?<![A-Za-z0-9_])password[ \\t]+(?=')`, 'gi');
  // `--(?:keys)`, as the flag regex has it (`--pass` alone let `--pwd x`, `--secret x` through).
  const sieve = new RegExp(`(?:${keys.join('|')})\\\\?["']?[ \\t]*[=:]|--(?:${keys.join('|')})|identified|password[ \\t]+'`, 'i');
  const kv = keyValuePattern('password', re, sieve, (m, s) => {
    const key = m[2]!;
    const quoted = m[1] !== '' || m[3] !== '';
    const start = m.index + m[1]!.length;
    const before = start > 0 ? s.charCodeAt(start - 1) : -1;
    const compound = before === 95 || before === 46 || before === 45; // _ . -
    // sudo and env dumps: `PWD=/home/alice` is the working directory, not a password.
    if (key === 'PWD' && !compound) return false;
    if (m[4] === ':') {
      // `pam_unix(passwd:chauthtok)`, `passwd: password updated`: a program name, not a key.
      if (before === 40 /* ( */) return false;
      if (!quoted && !compound && AMBIGUOUS_KEYS.has(key.toLowerCase())) return false;
    }
    return true;
  });
  const flags = valuePattern('password', cli, new RegExp(`--(?:${keys.join('|')})|identified|password[ \\t]+'`, 'i'));
  const candidates = new RegExp(sieve.source, 'gi');
  return {
    id: 'password',
    // Like the mask's `accept`, a bare upper-case `PWD=` (sudo's working directory) is no reason to
    // mask, so sudo lines do not take the masking path.
    sieve(text) {
      candidates.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = candidates.exec(text)) !== null) {
        if (!m[0].startsWith('PWD') || /[A-Za-z0-9_.-]/.test(text.charAt(m.index - 1))) return true;
      }
      return false;
    },
    mask: (s, onHit, budget) => flags.mask(kv.mask(s, onHit, budget), onHit, budget),
  };
}

// ---------------------------------------------------------------------------------------------------
// url_password: `scheme://user:PASSWORD@host` (also with JSON's escaped `:\/\/`).

// The match starts at `://` and the scheme is a lookbehind read only there: starting at every word
// boundary, the scheme's {0,20} was read forwards and back at each one (most of a 64 KiB frame's time).
const URL_RE = /:(?:\/\/|\\\/\\\/)(?<=\b[A-Za-z][A-Za-z0-9+.-]{0,20}:(?:\/\/|\\\/\\\/))[^\s:/@"'\\]*:([^\s/@"'\\]+)@/g;
/**
 * Sieves for short literals are regular expressions with a character class, not indexOf: V8's
 * indexOf for a needle of 2-4 characters stops at every occurrence of its first character, ~7 ns a
 * character on a text made of it (`eeee...` for `eyJ`, `AAAA...` for `AKIA`: 0.45 ms per 64 KiB),
 * where the regular expression skips ahead (~0.7 ns). (A plain literal regex is an indexOf too.)
 */
const URL_SIEVE = /:(?:[/][/]|\\[/]\\[/])/;
const JWT_SIEVE = /ey[J]/;
const urlPassword = wholePattern(
  'url_password',
  URL_RE,
  (t) => URL_SIEVE.test(t) && t.indexOf('@') !== -1,
  1,
);

// ---------------------------------------------------------------------------------------------------
// bearer: `Authorization: Basic|Bearer|Token ...` (any scheme) and `Bearer <token>` anywhere.

const AUTH_RE = /(?<![A-Za-z0-9])(?:proxy-)?authorization\\?["']?[ \t]*[:=][ \t]*\\?["']?(?:(?:Basic|Bearer|Token|Digest|Negotiate|NTLM|ApiKey|AWS4-HMAC-SHA256)[ \t]+)?/gi;
const authHeader = valuePattern('bearer', AUTH_RE, /authorization/i);
/** 16+ token characters: shorter words after "bearer" are prose ("bearer token expired"). */
const BEARER_RE = /\bbearer[ \t]+([A-Za-z0-9\-._~+/]{16,}=*)/gi;
const bareBearer = wholePattern('bearer', BEARER_RE, (t) => /bearer/i.test(t), 1);
const bearer: Pattern = {
  id: 'bearer',
  sieve: (t) => /bearer|authorization/i.test(t),
  mask: (s, onHit, budget) => bareBearer.mask(authHeader.mask(s, onHit, budget), onHit, budget),
};

// ---------------------------------------------------------------------------------------------------
// api_key: `api_key=...`, `X-Api-Key: ...`, `access_token=...`, and tokens recognisable by their prefix.

const API_KEY_RE =
  /((?:x-)?api[_-]?key|apikey|api[_-]?token|(?:access|refresh|auth|id|session|private|client|bearer|csrf)[_-]?token|token)(\\?["']?)[ \t]*([=:])[ \t]*/gi;
const apiKeyKv = keyValuePattern('api_key', API_KEY_RE, /api.?key|token/i, (m, s) => {
  // `token: expired` in prose: a bare, unquoted `token` counts only with `=`.
  if (m[4] === ':' && m[2]!.toLowerCase() === 'token' && m[1] === '' && m[3] === '') {
    const before = m.index > 0 ? s.charCodeAt(m.index - 1) : -1;
    return before === 95 || before === 45 || before === 46;
  }
  return true;
});
/** Well-known token formats: GitHub, GitLab, Slack, Stripe, Google API keys, npm, OpenAI-style `sk-`. */
const KNOWN_TOKEN_RE =
  /\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}|glpat-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|[rs]k_(?:live|test)_[A-Za-z0-9]{16,}|AIza[0-9A-Za-z_-]{35}|npm_[A-Za-z0-9]{36}|sk-(?:proj-)?[A-Za-z0-9_-]{32,})\b/g;
const KNOWN_TOKEN_SIEVE = /gh[pousr]_|github_pat_|glpat-|xox[abposr]-|[rs]k_(?:live|test)_|AIza|npm_|sk-/;
const knownTokens = wholePattern('api_key', KNOWN_TOKEN_RE, (t) => KNOWN_TOKEN_SIEVE.test(t));
const apiKey: Pattern = {
  id: 'api_key',
  sieve: (t) => /api.?key|token/i.test(t) || KNOWN_TOKEN_SIEVE.test(t),
  mask: (s, onHit, budget) => knownTokens.mask(apiKeyKv.mask(s, onHit, budget), onHit, budget),
};

// ---------------------------------------------------------------------------------------------------
// aws_access_key: long-term (AKIA) and temporary (ASIA) access key ids.

const AWS_SIEVE = /A[KS]IA/;
const awsAccessKey = wholePattern('aws_access_key', /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, (t) => AWS_SIEVE.test(t));

// ---------------------------------------------------------------------------------------------------
// private_key: a PEM/OpenSSH/PGP private key block, to its END line (or the end of the text when cut).

const PRIVATE_KEY_RE = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----[^]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$)/g;
const privateKey = wholePattern('private_key', PRIVATE_KEY_RE, (t) => t.indexOf('PRIVATE KEY') !== -1);

// ---------------------------------------------------------------------------------------------------
// jwt: header.payload.signature, base64url; the header is JSON, so it starts with `eyJ` (`{"`).

// A JWT starts after a character that cannot be part of one: with `\b`, each `eyJ` of `-eyJ-eyJ...`
// started a scan to the end of the run (quadratic).
const jwt = wholePattern('jwt', /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, (t) => JWT_SIEVE.test(t));

// ---------------------------------------------------------------------------------------------------
// pan: payment card numbers, 13-19 digits (single spaces or dashes between them allowed), with a card
// network's leading digits, and a valid Luhn check digit. Not inside a longer number, a decimal, an
// IP address or a word; not after `+` (a phone number).

/** Luhn (ISO/IEC 7812-1) over the digits of `s`, ignoring separators. */
export function luhnValid(s: string): boolean {
  let sum = 0;
  let double = false;
  let n = 0;
  for (let i = s.length - 1; i >= 0; i--) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) continue;
    n++;
    let d = c;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return n > 0 && sum % 10 === 0;
}

/** Leading digits of the card networks: 2221-2720 (Mastercard), 30, 34-39 (Diners, Amex, JCB), 4 (Visa), 5 (Mastercard, Maestro), 6 (Discover, UnionPay, Maestro). */
export function panPrefixValid(digits: string): boolean {
  const d = digits.charCodeAt(0) - 48;
  if (d === 4 || d === 5 || d === 6) return true;
  if (d === 3) {
    const two = +digits.slice(0, 2);
    return two === 30 || (two >= 34 && two <= 39);
  }
  if (d === 2) {
    const four = +digits.slice(0, 4);
    return four >= 2221 && four <= 2720;
  }
  return false;
}

/**
 * The length of the longest prefix of `match` (a PAN_RE match) that is a card number: it ends at the
 * match's end or before a separator, holds 13-19 digits with a network's leading digits and passes
 * Luhn; a shorter prefix only with 16 digits (`4111 1111 1111 1111 2`: a card followed by a number;
 * shorter prefixes are mostly ids followed by a count). -1 when none is. One pass: the Luhn sums of
 * every prefix are kept for both parities (a digit appended on the right doubles every other digit
 * before it).
 */
function panEnd(match: string): number {
  let n = 0;
  let plain = 0; // Luhn sum of the digits so far with the last one not doubled
  let doubled = 0; // ... with the last one doubled
  let best = -1;
  for (let i = 0; i <= match.length; i++) {
    const c = i < match.length ? match.charCodeAt(i) : 32;
    if (c === 32 || c === 45) {
      // The whole match, or a 16-digit card followed by another number (`4111 1111 1111 1111 2`).
      if (plain % 10 === 0 && (i === match.length ? n >= 13 && n <= 19 : n === 16)) best = i;
      continue;
    }
    const d = c - 48;
    const dd = d * 2 > 9 ? d * 2 - 9 : d * 2;
    const p = doubled + d;
    doubled = plain + dd;
    plain = p;
    n++;
  }
  return best > 0 && panPrefixValid(match.replace(/[ -]/g, '').slice(0, 4)) ? best : -1;
}

/**
 * 4 digits, 4 digits, 2 digits (one space or dash allowed after the 4th and the 8th), then 1-9 more
 * digits, single separators allowed: 4-4-4-4 and 4-6-5 (Amex) groupings and plain runs. The fixed
 * head is also the cheap gate (`GATE_PAN`).
 */
const PAN_RE = /(?<![0-9A-Za-z_.+])[2-6][0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{2}(?:[ -]?[0-9]){1,9}(?![0-9A-Za-z_]|\.[0-9])/g;
const PAN_SIEVE = /[2-6][0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{2}[ -]?[0-9]/;
const PAN_MASK = maskOf('pan');
/**
 * A match that is no card is retried from its next character, not skipped: in `5234 4111 1111 1111
 * 1111` the first match (from 5234, 19 digits) fails Luhn, and the card starts inside it. Each retry
 * reads at most one match length (~40 characters), so the scan stays linear.
 */
const pan: Pattern = {
  id: 'pan',
  sieve: (t) => PAN_SIEVE.test(t),
  mask(s, onHit, budget) {
    PAN_RE.lastIndex = 0;
    let out = '';
    let last = 0;
    let m: RegExpExecArray | null;
    while ((m = PAN_RE.exec(s)) !== null) {
      if (spend(budget)) return out + s.slice(last, m.index) + BUDGET_MASK;
      const len = panEnd(m[0]);
      if (len < 0) {
        PAN_RE.lastIndex = m.index + 1;
        continue;
      }
      out += s.slice(last, m.index) + PAN_MASK;
      last = m.index + len;
      PAN_RE.lastIndex = last;
      onHit();
    }
    return last === 0 ? s : out + s.slice(last);
  },
};

// ---------------------------------------------------------------------------------------------------
// The gate: one test that is true whenever any built-in pattern's sieve could be, run first on every
// frame. Measured on the load test's mix (bench/ingest.ts): a regex alternation costs per character
// about in proportion to its alternatives' first characters, so the keywords are factored into a
// trie by first letter, and card numbers use a separate alternation-free regex (~0.4 ns/char).
//
// Linear by construction (docs/redaction.md, "Cost"): each alternative is a fixed keyword, and a key
// must be followed by its separator right away, as the key/value patterns themselves require. The
// gate once allowed `[\w.-]*` between key and separator; on `passpasspass...` each `pass` then
// rescanned the rest of the word, which made the gate quadratic (0.3-0.8 s for 64 KiB).

const SEP = String.raw`\\?["']?[ \t]*[=:]`;

/** True whenever some built-in pattern (with `extraPasswordKeys`) could match `text`. */
export function builtinGate(extraPasswordKeys: readonly string[] = []): (text: string) => boolean {
  const extraKeys = extraPasswordKeys.map((k) => escapeRe(k.toLowerCase())).join('|');
  const extra = extraPasswordKeys.length > 0 ? `|(?:${extraKeys})${SEP}|--(?:${extraKeys})` : '';
  const words = new RegExp(
    String.raw`p(?:ass(?:word|wd|phrase)?(?:${SEP}|[ \t]+')|wd${SEP}|rivate key)|s(?:ecret(?:_key|_access_key|key)?${SEP}|k-|k_live_|k_test_)|credentials?${SEP}|identified` +
      String.raw`|a(?:uthoriz|pi.?key|kia|sia|iza)|bearer|token${SEP}|:(?:\/\/|\\\/\\\/)|eyj|g(?:h[pousr]_|ithub_pat_|lpat-)|xox[abposr]-|rk_(?:live|test)_|npm_` +
      String.raw`|--(?:pass|pwd|secret|credential)${extra}`,
    'i',
  );
  return (text) => words.test(text) || GATE_PAN.test(text);
}

const GATE_PAN = /[0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{2}/;

/**
 * The rule a parsed field's *name* calls for: structured data params, JSON fields and audit-record
 * metadata carry `password`, `api_key`, `Authorization` as object keys, where the key/value patterns
 * (which read `key=value` text) cannot see them. Null for other names.
 */
export function keyRule(extraPasswordKeys: readonly string[] = []): (name: string) => 'password' | 'api_key' | 'bearer' | null {
  const pw = new RegExp(`(?:^|[_.-])(?:${[...PASSWORD_KEYS, ...extraPasswordKeys].map((k) => escapeRe(k.toLowerCase())).join('|')})$`, 'i');
  const api = /(?:^|[_.-])(?:api[_-]?key|apikey|api[_-]?token|(?:access|refresh|auth|id|session|private|client|bearer|csrf)[_-]?token|token)$/i;
  const auth = /^(?:proxy-)?authorization$/i;
  const classify = (name: string): 'password' | 'api_key' | 'bearer' | null => {
    if (name.length > 64) return null;
    if (pw.test(name) && name !== 'PWD') return 'password';
    if (api.test(name)) return 'api_key';
    return auth.test(name) ? 'bearer' : null;
  };
  // Field names repeat from event to event: remember the answers (bounded).
  const memo = new Map<string, 'password' | 'api_key' | 'bearer' | null>();
  return (name) => {
    let r = memo.get(name);
    if (r === undefined) {
      r = classify(name);
      if (memo.size >= 4096) memo.clear();
      memo.set(name, r);
    }
    return r;
  };
}

/** The built-in patterns; `extraPasswordKeys` adds key names to `password`. */
export function builtinPatterns(extraPasswordKeys: readonly string[] = []): Record<BuiltinRuleId, Pattern> {
  return {
    password: passwordPattern(extraPasswordKeys),
    url_password: urlPassword,
    bearer,
    api_key: apiKey,
    aws_access_key: awsAccessKey,
    private_key: privateKey,
    jwt,
    pan,
  };
}

/** An operator's own pattern (`custom` in the rules file): every match of `regex` is masked. */
export function customPattern(id: string, source: string, flags: string, triggers: readonly string[]): Pattern {
  const f = flags.replace(/[gy]/g, '');
  const re = new RegExp(source, `${f}g`);
  const test = new RegExp(source, f);
  const sieve = triggers.length > 0 ? (t: string) => triggers.some((x) => t.indexOf(x) !== -1) : (t: string) => test.test(t);
  return wholePattern(id, re, sieve);
}
