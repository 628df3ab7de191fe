/**
 * The detections file (`--detections FILE`, JSON; defaults and meaning in docs/detections.md).
 * Every setting is optional; `{}` runs every rule with the documented defaults. Durations are
 * strings (`90s`, `5m`, `24h`, `30d`) or numbers of seconds. Unknown settings are errors: a typo
 * must not silently turn a rule off.
 */
import { readJsonFile } from '../config.js';
import { ConfigError } from '../errors.js';
import { parseCron, type CronSchedule } from './cron.js';

export interface BruteForceConfig {
  readonly enabled: boolean;
  readonly windowMs: number;
  /** Failed attempts for one user name within the window. */
  readonly perUser: number;
  /** Failed attempts from one source IP within the window. */
  readonly perSource: number;
  /** Distinct user names failing from one source within `sprayingWindowMs`: password spraying. */
  readonly sprayingUsers: number;
  readonly sprayingWindowMs: number;
  readonly cooldownMs: number;
}

export interface SuccessAfterFailuresConfig {
  readonly enabled: boolean;
  /** Failed attempts from the source within the window before the success. */
  readonly failures: number;
  readonly windowMs: number;
  readonly cooldownMs: number;
}

export interface PrivilegeEscalationConfig {
  readonly enabled: boolean;
  /** Target accounts that count as root for sudo/su. */
  readonly rootUsers: readonly string[];
  /** Groups whose membership grants administrative rights. */
  readonly privilegedGroups: readonly string[];
}

export interface BulkExportConfig {
  readonly enabled: boolean;
  /** One data-access record with `record_count` above this is a bulk export. */
  readonly maxRecords: number;
  /** Read operations by one user within the window. */
  readonly reads: number;
  readonly windowMs: number;
  readonly cooldownMs: number;
}

export interface ChangeWindowConfig {
  readonly enabled: boolean;
  readonly windows: readonly CronSchedule[];
  /** OCSF classes that are administrative actions. */
  readonly classes: readonly number[];
  /** sudo to a root user (1007 Launch) is an administrative action too. */
  readonly includeSudo: boolean;
  readonly ignoreActors: readonly string[];
  readonly cooldownMs: number;
}

export interface ServiceAccountsConfig {
  readonly enabled: boolean;
  readonly accounts: readonly string[];
  /** `*` wildcard patterns (`svc-*`). */
  readonly patterns: readonly string[];
  /** Authentication methods a person types (`auth_protocol`): a service account using one logs in interactively. */
  readonly interactiveMethods: readonly string[];
  /** Who may su/sudo to a service account without it counting as interactive use (cron runs as root). */
  readonly ignoreActors: readonly string[];
  readonly cooldownMs: number;
}

export interface NewNetworkConfig {
  readonly enabled: boolean;
  /** Successful logins a user needs in the learning window before a new network is unusual. */
  readonly minHistory: number;
  readonly ipv4Prefix: number;
  readonly ipv6Prefix: number;
  /** At most one finding per user per cool-down. */
  readonly cooldownMs: number;
}

export interface DetectionConfig {
  /** How far back "never seen" looks, and how much of the ledger is replayed at start. */
  readonly learningWindowMs: number;
  /** "Never seen" rules stay quiet until the detector has this much history (a fresh ledger knows nobody). */
  readonly warmupMs: number;
  /** An event time further than this from its receive time is replaced by the receive time. */
  readonly maxClockSkewMs: number;
  /** Keys (users, sources, ...) each rule keeps at most; the least recently seen go first. */
  readonly maxKeys: number;
  /** Triggering rows a finding lists at most (the most recent). */
  readonly maxRefs: number;
  readonly bruteForce: BruteForceConfig;
  readonly successAfterFailures: SuccessAfterFailuresConfig;
  readonly privilegeEscalation: PrivilegeEscalationConfig;
  readonly bulkExport: BulkExportConfig;
  readonly changeWindow: ChangeWindowConfig;
  readonly serviceAccounts: ServiceAccountsConfig;
  readonly newNetwork: NewNetworkConfig;
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** The documented defaults (docs/detections.md). */
export function defaultDetectionConfig(): DetectionConfig {
  return {
    learningWindowMs: 30 * DAY,
    warmupMs: DAY,
    maxClockSkewMs: HOUR,
    maxKeys: 100_000,
    maxRefs: 20,
    bruteForce: { enabled: true, windowMs: 5 * MIN, perUser: 10, perSource: 10, sprayingUsers: 5, sprayingWindowMs: 10 * MIN, cooldownMs: 15 * MIN },
    successAfterFailures: { enabled: true, failures: 5, windowMs: 15 * MIN, cooldownMs: 15 * MIN },
    privilegeEscalation: { enabled: true, rootUsers: ['root'], privilegedGroups: ['sudo', 'wheel', 'adm', 'root', 'admin'] },
    bulkExport: { enabled: true, maxRecords: 10_000, reads: 500, windowMs: 10 * MIN, cooldownMs: HOUR },
    changeWindow: { enabled: true, windows: [], classes: [3001, 3004, 3005, 3006], includeSudo: true, ignoreActors: [], cooldownMs: HOUR },
    serviceAccounts: { enabled: true, accounts: [], patterns: [], interactiveMethods: ['password', 'keyboard-interactive'], ignoreActors: ['root'], cooldownMs: HOUR },
    newNetwork: { enabled: true, minHistory: 3, ipv4Prefix: 24, ipv6Prefix: 48, cooldownMs: HOUR },
  };
}

const OPTION = '--detections';

function fail(msg: string): never {
  throw new ConfigError(OPTION, msg);
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class Reader {
  constructor(
    readonly o: Json,
    readonly where: string,
  ) {
    if (!isObject(o)) fail(`${where} must be an object`);
  }

  only(keys: readonly string[]): void {
    for (const k of Object.keys(this.o)) if (k !== '$comment' && !keys.includes(k)) fail(`${this.where}: unknown setting "${k}" (known: ${keys.join(', ')})`);
  }

  bool(k: string, d: boolean): boolean {
    const v = this.o[k];
    if (v === undefined) return d;
    if (typeof v !== 'boolean') fail(`${this.where}.${k} must be true or false`);
    return v;
  }

  int(k: string, d: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.o[k];
    if (v === undefined) return d;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(`${this.where}.${k} must be a whole number from ${min} to ${max}`);
    return v;
  }

  duration(k: string, d: number): number {
    const v = this.o[k];
    if (v === undefined) return d;
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.round(v * 1000);
    const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(v.trim()) : null;
    if (!m) fail(`${this.where}.${k} must be a duration like "90s", "5m", "24h" or "30d"`);
    return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: MIN, h: HOUR, d: DAY }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd']);
  }

  strings(k: string, d: readonly string[]): readonly string[] {
    const v = this.o[k];
    if (v === undefined) return d;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) fail(`${this.where}.${k} must be a list of non-empty strings`);
    return v as string[];
  }

  numbers(k: string, d: readonly number[]): readonly number[] {
    const v = this.o[k];
    if (v === undefined) return d;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isInteger(x))) fail(`${this.where}.${k} must be a list of whole numbers`);
    return v as number[];
  }

  section(k: string): Reader {
    const v = this.o[k];
    if (v === undefined) return new Reader({}, k);
    if (typeof v === 'boolean') return new Reader({ enabled: v }, k);
    if (!isObject(v)) fail(`${k} must be an object (or true/false)`);
    return new Reader(v, k);
  }
}

const SECTIONS = ['brute_force', 'success_after_failures', 'privilege_escalation', 'bulk_export', 'change_window', 'service_accounts', 'new_network'] as const;

/** Validates a parsed detections file against the defaults. */
export function parseDetectionConfig(json: unknown): DetectionConfig {
  if (!isObject(json)) fail('the file must hold a JSON object');
  const d = defaultDetectionConfig();
  const top = new Reader(json, 'top level');
  top.only(['learning_window', 'warmup', 'max_clock_skew', 'max_keys', 'max_refs', ...SECTIONS]);

  const bf = top.section('brute_force');
  bf.only(['enabled', 'window', 'per_user', 'per_source', 'spraying_users', 'spraying_window', 'cooldown']);
  const sa = top.section('success_after_failures');
  sa.only(['enabled', 'failures', 'window', 'cooldown']);
  const pe = top.section('privilege_escalation');
  pe.only(['enabled', 'root_users', 'privileged_groups']);
  const be = top.section('bulk_export');
  be.only(['enabled', 'max_records', 'reads', 'window', 'cooldown']);
  const cw = top.section('change_window');
  cw.only(['enabled', 'windows', 'classes', 'include_sudo', 'ignore_actors', 'cooldown']);
  const sv = top.section('service_accounts');
  sv.only(['enabled', 'accounts', 'patterns', 'interactive_methods', 'ignore_actors', 'cooldown']);
  const nn = top.section('new_network');
  nn.only(['enabled', 'min_history', 'ipv4_prefix', 'ipv6_prefix', 'cooldown']);

  const windowsJson = cw.o.windows;
  const windows: CronSchedule[] = [];
  if (windowsJson !== undefined) {
    if (!Array.isArray(windowsJson)) fail('change_window.windows must be a list of { "cron": "...", "time_zone": "..." }');
    for (const [i, w] of windowsJson.entries()) {
      const where = `change_window.windows[${i}]`;
      if (typeof w === 'string') {
        windows.push(parseCron(w, 'UTC', where));
        continue;
      }
      const r = new Reader(w as Json, where);
      r.only(['cron', 'time_zone']);
      if (typeof r.o.cron !== 'string') fail(`${where}.cron must be a cron expression`);
      const tz = r.o.time_zone ?? 'UTC';
      if (typeof tz !== 'string') fail(`${where}.time_zone must be an IANA time zone name`);
      windows.push(parseCron(r.o.cron, tz, where));
    }
  }

  return {
    learningWindowMs: top.duration('learning_window', d.learningWindowMs),
    warmupMs: top.duration('warmup', d.warmupMs),
    maxClockSkewMs: top.duration('max_clock_skew', d.maxClockSkewMs),
    maxKeys: top.int('max_keys', d.maxKeys, 100),
    maxRefs: top.int('max_refs', d.maxRefs, 1, 1000),
    bruteForce: {
      enabled: bf.bool('enabled', d.bruteForce.enabled),
      windowMs: bf.duration('window', d.bruteForce.windowMs),
      perUser: bf.int('per_user', d.bruteForce.perUser),
      perSource: bf.int('per_source', d.bruteForce.perSource),
      sprayingUsers: bf.int('spraying_users', d.bruteForce.sprayingUsers, 2),
      sprayingWindowMs: bf.duration('spraying_window', d.bruteForce.sprayingWindowMs),
      cooldownMs: bf.duration('cooldown', d.bruteForce.cooldownMs),
    },
    successAfterFailures: {
      enabled: sa.bool('enabled', d.successAfterFailures.enabled),
      failures: sa.int('failures', d.successAfterFailures.failures),
      windowMs: sa.duration('window', d.successAfterFailures.windowMs),
      cooldownMs: sa.duration('cooldown', d.successAfterFailures.cooldownMs),
    },
    privilegeEscalation: {
      enabled: pe.bool('enabled', d.privilegeEscalation.enabled),
      rootUsers: pe.strings('root_users', d.privilegeEscalation.rootUsers),
      privilegedGroups: pe.strings('privileged_groups', d.privilegeEscalation.privilegedGroups),
    },
    bulkExport: {
      enabled: be.bool('enabled', d.bulkExport.enabled),
      maxRecords: be.int('max_records', d.bulkExport.maxRecords),
      reads: be.int('reads', d.bulkExport.reads),
      windowMs: be.duration('window', d.bulkExport.windowMs),
      cooldownMs: be.duration('cooldown', d.bulkExport.cooldownMs),
    },
    changeWindow: {
      enabled: cw.bool('enabled', d.changeWindow.enabled),
      windows,
      classes: cw.numbers('classes', d.changeWindow.classes),
      includeSudo: cw.bool('include_sudo', d.changeWindow.includeSudo),
      ignoreActors: cw.strings('ignore_actors', d.changeWindow.ignoreActors),
      cooldownMs: cw.duration('cooldown', d.changeWindow.cooldownMs),
    },
    serviceAccounts: {
      enabled: sv.bool('enabled', d.serviceAccounts.enabled),
      accounts: sv.strings('accounts', d.serviceAccounts.accounts),
      patterns: sv.strings('patterns', d.serviceAccounts.patterns),
      interactiveMethods: sv.strings('interactive_methods', d.serviceAccounts.interactiveMethods),
      ignoreActors: sv.strings('ignore_actors', d.serviceAccounts.ignoreActors),
      cooldownMs: sv.duration('cooldown', d.serviceAccounts.cooldownMs),
    },
    newNetwork: {
      enabled: nn.bool('enabled', d.newNetwork.enabled),
      minHistory: nn.int('min_history', d.newNetwork.minHistory, 0),
      ipv4Prefix: nn.int('ipv4_prefix', d.newNetwork.ipv4Prefix, 8, 32),
      ipv6Prefix: nn.int('ipv6_prefix', d.newNetwork.ipv6Prefix, 16, 128),
      cooldownMs: nn.duration('cooldown', d.newNetwork.cooldownMs),
    },
  };
}

/** Reads and validates a detections file. */
export function loadDetectionConfig(path: string): DetectionConfig {
  return parseDetectionConfig(readJsonFile(OPTION, path));
}
