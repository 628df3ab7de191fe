/**
 * The redaction rules file (`--redaction-rules FILE`, JSON; docs/redaction.md). Every field is
 * optional: `{}` (or no file) means every built-in rule on, for every source.
 *
 *   {
 *     "enabled": true,
 *     "rules": { "pan": true, "jwt": { "enabled": true, "except_peers": ["lab-*"] }, "bearer": false },
 *     "except_peers": ["trusted-relay.example.com"],
 *     "extra_password_keys": ["pin", "otp"],
 *     "custom": [{ "id": "employee_id", "pattern": "EMP-[0-9]{6}", "flags": "i", "triggers": ["EMP-", "emp-"] }],
 *     "budget": { "max_bytes": 65536, "max_matches": 1000, "max_ms": 100 }
 *   }
 */
import { readJsonFile } from '../config.js';
import { ConfigError } from '../errors.js';
import { REDACTION_RULES, type BuiltinRuleId } from './patterns.js';

export interface RuleSetting {
  readonly enabled: boolean;
  /** Peer CN/SAN patterns (`*` wildcards) this rule does not apply to. */
  readonly exceptPeers: readonly string[];
}

export interface CustomRule {
  readonly id: string;
  readonly pattern: string;
  readonly flags: string;
  /** Literal substrings, one of which every match contains (the cheap precheck); none: the regex itself is the precheck. */
  readonly triggers: readonly string[];
  readonly exceptPeers: readonly string[];
}

/**
 * What redaction may spend on one frame (docs/redaction.md, "Cost"). Text past `maxBytes` is not
 * scanned but masked wholesale; past `maxMatches` candidates the rest of the text is masked
 * wholesale; a frame whose masking runs past `maxMs` has its free text masked wholesale. Either way the event is flagged (`budget` in `event.redactions`): never left unmasked.
 */
export interface RedactionBudget {
  readonly maxBytes: number;
  /** Candidates the patterns may examine in one frame (masked or not); past them the rest is masked wholesale. */
  readonly maxMatches: number;
  readonly maxMs: number;
}

export const DEFAULT_REDACTION_BUDGET: RedactionBudget = { maxBytes: 64 * 1024, maxMatches: 1000, maxMs: 100 };

export interface RedactionConfig {
  readonly enabled: boolean;
  readonly budget: RedactionBudget;
  readonly rules: Readonly<Record<BuiltinRuleId, RuleSetting>>;
  /** Peer CN/SAN patterns no rule applies to. */
  readonly exceptPeers: readonly string[];
  readonly extraPasswordKeys: readonly string[];
  readonly custom: readonly CustomRule[];
}

const OPTION = '--redaction-rules';
const ID_RE = /^[a-z][a-z0-9_]{0,31}$/;

export function defaultRedactionConfig(): RedactionConfig {
  const rules = {} as Record<BuiltinRuleId, RuleSetting>;
  for (const id of REDACTION_RULES) rules[id] = { enabled: true, exceptPeers: [] };
  return { enabled: true, budget: DEFAULT_REDACTION_BUDGET, rules, exceptPeers: [], extraPasswordKeys: [], custom: [] };
}

function fail(msg: string): never {
  throw new ConfigError(OPTION, msg);
}

function strings(v: unknown, where: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) fail(`${where} must be a list of non-empty strings`);
  return v as string[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) fail(`${where}: unknown setting "${k}" (known: ${allowed.join(', ')})`);
}

/** Validates a parsed rules file; unknown keys are errors (a typo must not silently disable a rule). */
export function parseRedactionConfig(json: unknown): RedactionConfig {
  if (!isObject(json)) fail('the file must hold a JSON object');
  onlyKeys(json, ['enabled', 'rules', 'except_peers', 'extra_password_keys', 'custom', 'budget', '$comment'], 'top level');
  const base = defaultRedactionConfig();
  const rules = { ...base.rules };
  if (json.rules !== undefined) {
    if (!isObject(json.rules)) fail('"rules" must be an object of rule id -> true | false | { enabled, except_peers }');
    for (const [id, v] of Object.entries(json.rules)) {
      if (!(REDACTION_RULES as readonly string[]).includes(id)) fail(`unknown rule "${id}" (built-in rules: ${REDACTION_RULES.join(', ')})`);
      if (typeof v === 'boolean') rules[id as BuiltinRuleId] = { enabled: v, exceptPeers: [] };
      else if (isObject(v)) {
        onlyKeys(v, ['enabled', 'except_peers'], `rules.${id}`);
        if (v.enabled !== undefined && typeof v.enabled !== 'boolean') fail(`rules.${id}.enabled must be true or false`);
        rules[id as BuiltinRuleId] = { enabled: v.enabled !== false, exceptPeers: strings(v.except_peers, `rules.${id}.except_peers`) };
      } else fail(`rules.${id} must be true, false or { "enabled": ..., "except_peers": [...] }`);
    }
  }
  if (json.enabled !== undefined && typeof json.enabled !== 'boolean') fail('"enabled" must be true or false');
  const custom: CustomRule[] = [];
  if (json.custom !== undefined) {
    if (!Array.isArray(json.custom)) fail('"custom" must be a list');
    for (const [i, c] of json.custom.entries()) {
      if (!isObject(c)) fail(`custom[${i}] must be an object`);
      onlyKeys(c, ['id', 'pattern', 'flags', 'triggers', 'except_peers'], `custom[${i}]`);
      if (typeof c.id !== 'string' || !ID_RE.test(c.id)) fail(`custom[${i}].id must match ${ID_RE.source} (it becomes a metric label)`);
      if ((REDACTION_RULES as readonly string[]).includes(c.id) || custom.some((x) => x.id === c.id)) fail(`custom[${i}].id "${c.id}" is already used`);
      if (typeof c.pattern !== 'string' || c.pattern === '') fail(`custom[${i}].pattern must be a regular expression`);
      const flags = c.flags === undefined ? '' : c.flags;
      if (typeof flags !== 'string' || !/^[imsu]*$/.test(flags)) fail(`custom[${i}].flags may hold only i, m, s, u`);
      try {
        new RegExp(c.pattern, flags);
      } catch (err) {
        fail(`custom[${i}].pattern: ${(err as Error).message}`);
      }
      custom.push({ id: c.id, pattern: c.pattern, flags, triggers: strings(c.triggers, `custom[${i}].triggers`), exceptPeers: strings(c.except_peers, `custom[${i}].except_peers`) });
    }
  }
  const extra = strings(json.extra_password_keys, 'extra_password_keys');
  for (const k of extra) if (!/^[A-Za-z0-9_.-]+$/.test(k)) fail(`extra_password_keys: "${k}" is not a key name`);
  return {
    enabled: json.enabled !== false,
    budget: parseBudget(json.budget),
    rules,
    exceptPeers: strings(json.except_peers, 'except_peers'),
    extraPasswordKeys: extra,
    custom,
  };
}

function parseBudget(v: unknown): RedactionBudget {
  if (v === undefined) return DEFAULT_REDACTION_BUDGET;
  if (!isObject(v)) fail('"budget" must be an object { "max_bytes": N, "max_matches": N, "max_ms": N }');
  onlyKeys(v, ['max_bytes', 'max_matches', 'max_ms'], 'budget');
  const num = (x: unknown, name: string, min: number, max: number, dflt: number): number => {
    if (x === undefined) return dflt;
    if (typeof x !== 'number' || !Number.isFinite(x) || x < min || x > max) fail(`budget.${name} must be a number from ${min} to ${max}`);
    return x;
  };
  return {
    maxBytes: Math.floor(num(v.max_bytes, 'max_bytes', 1024, 64 << 20, DEFAULT_REDACTION_BUDGET.maxBytes)),
    maxMatches: Math.floor(num(v.max_matches, 'max_matches', 16, 1_000_000, DEFAULT_REDACTION_BUDGET.maxMatches)),
    maxMs: num(v.max_ms, 'max_ms', 1, 10_000, DEFAULT_REDACTION_BUDGET.maxMs),
  };
}

/** Reads and validates a rules file; no path: the defaults. */
export function loadRedactionConfig(path: string | undefined): RedactionConfig {
  if (path === undefined) return defaultRedactionConfig();
  return parseRedactionConfig(readJsonFile(OPTION, path));
}
