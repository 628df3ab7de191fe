/**
 * Retention policies (docs/retention.md): how long events stay in the live database ("hot",
 * immediately available) and how long they are kept in total (hot + archive), per source class.
 *
 *   --retention pci-dss                       one framework preset
 *   --retention hipaa,pci-dss                 several: for each class the longest wins
 *   --retention pci-dss,auth=6y,debug=90d     a preset plus explicit totals per class
 *   --retention auth=hipaa,default=1y         a class given a preset's periods
 *
 * A row's periods are the longest of the rules of the classes it belongs to (auth, debug, internal),
 * or of the `default` rules when it belongs to none with a rule. Data leaves in whole partitions, so
 * a partition stays as long as the longest period of anything in it.
 */
import { ConfigError } from '../errors.js';

/** A calendar period: months (a year is 12) plus days, added in UTC. */
export interface Period {
  readonly months: number;
  readonly days: number;
}

/** Source classes a rule can name. `default`: every event that no other rule's class covers. */
export const SOURCE_CLASSES = ['default', 'auth', 'debug', 'internal'] as const;
export type SourceClass = (typeof SOURCE_CLASSES)[number];

/**
 * SQL predicate per class (columns of `ledger`), and its JavaScript twin for archived rows.
 *   auth      OCSF Identity & Access Management classes (3001-3006), or syslog facility auth/authpriv
 *   debug     syslog severity 7 (debug)
 *   internal  records syslog-ledger writes itself (pipeline findings, retention records)
 */
export const CLASS_SQL: Record<Exclude<SourceClass, 'default'>, string> = {
  auth: `(class_uid BETWEEN 3001 AND 3006 OR coalesce(facility::text, syslog->>'facility') IN ('4', '10'))`,
  debug: `(coalesce(severity::text, syslog->>'severity') = '7')`,
  internal: `(format = 'internal')`,
};

/** The classes a row belongs to (besides `default`), as CLASS_SQL decides them. */
export function rowClasses(row: { format: string; class_uid: number; syslog: unknown }): Array<Exclude<SourceClass, 'default'>> {
  const s = (row.syslog ?? {}) as { facility?: unknown; severity?: unknown };
  const out: Array<Exclude<SourceClass, 'default'>> = [];
  if ((row.class_uid >= 3001 && row.class_uid <= 3006) || s.facility === 4 || s.facility === 10) out.push('auth');
  if (s.severity === 7) out.push('debug');
  if (row.format === 'internal') out.push('internal');
  return out;
}

/** One rule: a class kept `hot` in the database and `total` overall. */
export interface RetentionRule {
  readonly cls: SourceClass;
  readonly hot: Period;
  readonly total: Period;
  /** Where it came from: a preset name, or the explicit item (`auth=6y`). */
  readonly source: string;
}

export const PRESET_NAMES = ['soc2', 'hipaa', 'pci-dss', 'fedramp', 'iso27001', 'gdpr'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/**
 * Framework presets. Every number and its source is in docs/retention.md ("Presets"); the minimum
 * totals are the seed's (audit-logging skill, "Retention Policy by Compliance Framework").
 */
export const PRESETS: Record<PresetName, { readonly hot: Period; readonly total: Period; readonly note: string }> = {
  soc2: { hot: days(90), total: years(1), note: 'SOC 2: at least 1 year (audit period); 3 years recommended' },
  hipaa: { hot: days(90), total: years(6), note: 'HIPAA 45 CFR 164.316(b)(2)(i): 6 years' },
  'pci-dss': { hot: months(3), total: years(1), note: 'PCI DSS v4.0 Req. 10.5.1: 12 months, the last 3 immediately available' },
  fedramp: { hot: days(90), total: years(3), note: 'FedRAMP / NIST SP 800-53 AU-11: 3 years, 90 days online' },
  iso27001: { hot: days(90), total: years(3), note: 'ISO/IEC 27001 A.8.15 (2013: A.12.4.1): policy-defined; 3 years recommended' },
  gdpr: { hot: days(30), total: months(6), note: 'GDPR Art. 5(1)(e) storage limitation: as short as the purpose allows; 6 months chosen' },
};

/** Hot window of explicit `CLASS=DURATION` rules unless `--hot` says otherwise (capped at the total). */
export const DEFAULT_HOT: Period = days(90);

export function days(n: number): Period {
  return { months: 0, days: n };
}
export function months(n: number): Period {
  return { months: n, days: 0 };
}
export function years(n: number): Period {
  return { months: 12 * n, days: 0 };
}

/** `90d`, `2w`, `3mo`, `6y`. Minutes are not a retention unit: `3m` is refused with a hint. */
export function parsePeriod(text: string, option = '--retention'): Period {
  const m = /^(\d+)(d|w|mo|y)$/.exec(text.trim());
  if (!m) {
    const hint = /^\d+m$/.test(text.trim()) ? ` (months are "mo": ${text.trim()}o)` : '';
    throw new ConfigError(option, `expects a period like 90d, 2w, 3mo or 6y, got "${text}"${hint}`);
  }
  const n = Number(m[1]);
  switch (m[2]) {
    case 'd':
      return days(n);
    case 'w':
      return days(7 * n);
    case 'mo':
      return months(n);
    default:
      return years(n);
  }
}

export function formatPeriod(p: Period): string {
  const parts: string[] = [];
  if (p.months > 0) parts.push(p.months % 12 === 0 ? `${p.months / 12}y` : `${p.months}mo`);
  if (p.days > 0 || parts.length === 0) parts.push(`${p.days}d`);
  return parts.join('+');
}

/** t + p, in UTC calendar terms (the day of month is clamped: Jan 31 + 1mo = Feb 28/29). */
export function addPeriod(t: Date, p: Period): Date {
  const d = new Date(t.getTime());
  if (p.months !== 0) {
    const day = d.getUTCDate();
    d.setUTCDate(1);
    d.setUTCMonth(d.getUTCMonth() + p.months);
    const last = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
    d.setUTCDate(Math.min(day, last));
  }
  if (p.days !== 0) d.setUTCDate(d.getUTCDate() + p.days);
  return d;
}

/** A parsed `--retention`. */
export interface RetentionPolicy {
  readonly spec: string;
  readonly rules: readonly RetentionRule[];
}

/**
 * Parses `--retention` (comma-separated items: PRESET, CLASS=DURATION or CLASS=PRESET). Presets
 * carry their own hot window; `--hot` is the hot window of explicit CLASS=DURATION items (default
 * 90 days, capped at the item's total). A policy must say how long `default` events are kept.
 */
export function parsePolicy(spec: string, opts: { hot?: string } = {}): RetentionPolicy {
  const hotOpt = opts.hot === undefined ? undefined : parsePeriod(opts.hot, '--hot');
  const rules: RetentionRule[] = [];
  const items = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new ConfigError('--retention', `is required: a preset (${PRESET_NAMES.join(', ')}) or CLASS=DURATION items`);
  for (const item of items) {
    const eq = item.indexOf('=');
    const cls = (eq < 0 ? 'default' : item.slice(0, eq).trim()) as SourceClass;
    const value = eq < 0 ? item : item.slice(eq + 1).trim();
    if (!(SOURCE_CLASSES as readonly string[]).includes(cls)) {
      throw new ConfigError('--retention', `unknown source class "${cls}" in "${item}" (classes: ${SOURCE_CLASSES.join(', ')})`);
    }
    const preset = PRESETS[value as PresetName];
    if (preset !== undefined) {
      rules.push({ cls, hot: preset.hot, total: preset.total, source: eq < 0 ? value : item });
      continue;
    }
    if (eq < 0) throw new ConfigError('--retention', `unknown preset "${item}" (presets: ${PRESET_NAMES.join(', ')}; or CLASS=DURATION)`);
    const total = parsePeriod(value);
    const hot = hotOpt ?? DEFAULT_HOT;
    rules.push({ cls, hot: longer(hot, total, new Date(0)) === hot ? total : hot, total, source: item });
    // (the hot window is capped at the total: data cannot stay in the database longer than it is kept)
  }
  if (!rules.some((r) => r.cls === 'default')) {
    throw new ConfigError('--retention', `says nothing about events outside ${[...new Set(rules.map((r) => r.cls))].join(', ')}: add a preset or default=DURATION`);
  }
  return { spec, rules };
}

/** The longer of two periods counted from `from` (the first on a tie). */
function longer(a: Period, b: Period, from: Date): Period {
  return addPeriod(from, b).getTime() > addPeriod(from, a).getTime() ? b : a;
}

/** What a policy requires of data whose newest possible row is at `end`, holding the given classes. */
export interface Requirement {
  /** Leaves the database (archived, then dropped) at or after this time. */
  readonly archiveAt: Date;
  /** The archive may be deleted at or after this time. */
  readonly expireAt: Date;
  /** The rules that set the two times. */
  readonly hotRule: RetentionRule;
  readonly totalRule: RetentionRule;
}

/**
 * Longest wins: over the rules of every class present (`default` stands for rows no other ruled
 * class covers; callers that cannot tell pass it whenever there are rows: the safe side).
 */
export function requirement(policy: RetentionPolicy, end: Date, present: ReadonlySet<SourceClass>): Requirement {
  let hotRule: RetentionRule | undefined;
  let totalRule: RetentionRule | undefined;
  let archiveAt = -Infinity;
  let expireAt = -Infinity;
  const applicable = policy.rules.filter((r) => present.has(r.cls));
  for (const r of applicable.length > 0 ? applicable : policy.rules.filter((x) => x.cls === 'default')) {
    const a = addPeriod(end, r.hot).getTime();
    const e = addPeriod(end, r.total).getTime();
    if (a > archiveAt) [archiveAt, hotRule] = [a, r];
    if (e > expireAt) [expireAt, totalRule] = [e, r];
  }
  return { archiveAt: new Date(archiveAt), expireAt: new Date(expireAt), hotRule: hotRule!, totalRule: totalRule! };
}

/**
 * Classes whose rules can outlast the `default` rules from `end`: only those need looking for in a
 * partition (when it holds rows, `default` is assumed present: the safe side).
 */
export function classesToProbe(policy: RetentionPolicy, end: Date): Array<Exclude<SourceClass, 'default'>> {
  const base = requirement(policy, end, new Set(['default']));
  const out = new Set<Exclude<SourceClass, 'default'>>();
  for (const r of policy.rules) {
    if (r.cls === 'default') continue;
    if (addPeriod(end, r.hot) > base.archiveAt || addPeriod(end, r.total) > base.expireAt) out.add(r.cls);
  }
  return [...out];
}

/** One line per rule, for `retention` and the plan's header. */
export function describePolicy(policy: RetentionPolicy): string[] {
  return policy.rules.map((r) => `  ${r.cls.padEnd(9)} hot ${formatPeriod(r.hot).padEnd(6)} total ${formatPeriod(r.total).padEnd(6)} (${r.source}${PRESETS[r.source as PresetName] ? `: ${PRESETS[r.source as PresetName].note}` : ''})`);
}
