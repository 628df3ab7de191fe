/**
 * Command-line options with environment equivalents (`--database-url` / DATABASE_URL, the rest
 * SYSLOG_LEDGER_<OPTION>); a flag wins over the environment. A bad value stops the program with a
 * ConfigError naming the option. Each command declares its options once, as data; help text,
 * parsing, defaults and validation all come from that declaration.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, UsageError } from './errors.js';

/** The JSON in the file an option names; an unreadable file or bad JSON is a ConfigError naming the option. */
export function readJsonFile(option: string, path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(option, `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ConfigError(option, `${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** A file of names, one a line (`--expect-sources-file`); blank lines and `#` comments skipped. May be empty. */
export function readNameList(option: string, path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(option, `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l.length > 0);
}

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly default?: string | boolean;
  readonly help: string;
  /** Placeholder in help, e.g. `HOST:PORT`. */
  readonly arg?: string;
  readonly short?: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

/** Parsed values: strings, booleans or string lists, by option name. */
export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export function envName(option: string): string {
  if (option === 'read-database-url') return 'DATABASE_READ_URL';
  return option === 'database-url' ? 'DATABASE_URL' : `SYSLOG_LEDGER_${option.toUpperCase().replaceAll('-', '_')}`;
}

/** Parses argv against specs, filling from the environment, then defaults. */
export function parseOptions(argv: readonly string[], specs: OptionSpecs, opts: { positionals?: boolean } = {}): { values: OptionValues; positionals: string[] } {
  const parseSpec: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, s] of Object.entries(specs)) {
    parseSpec[name] = { type: s.type, ...(s.multiple ? { multiple: true } : {}), ...(s.short ? { short: s.short } : {}) };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options: parseSpec, strict: true, allowPositionals: opts.positionals ?? false });
  } catch (err) {
    const msg = (err as Error).message;
    const m = /'(--?[\w-]+)'/.exec(msg);
    throw new ConfigError(m?.[1] ?? 'arguments', msg.replace(/\. To specify a positional argument.*$/s, ''));
  }
  const values: OptionValues = { help: parsed.values.help as boolean | undefined };
  for (const [name, s] of Object.entries(specs)) {
    let v = parsed.values[name] as string | boolean | string[] | undefined;
    if (v === undefined) {
      const env = process.env[envName(name)];
      if (env !== undefined && env !== '') {
        if (s.type === 'boolean') v = /^(1|true|yes|on)$/i.test(env);
        else if (s.multiple) v = env.split(',').map((x) => x.trim()).filter(Boolean);
        else v = env;
      }
    }
    if (v === undefined && s.default !== undefined) v = s.multiple ? [String(s.default)] : s.default;
    if (v === undefined && s.multiple) v = [];
    values[name] = v;
  }
  return { values, positionals: parsed.positionals };
}

export function helpText(usage: string, description: string, specs: OptionSpecs): string {
  const lines = [`Usage: ${usage}`, '', description, '', 'Options:'];
  for (const [name, s] of Object.entries(specs)) {
    const flag = `--${name}${s.type === 'string' ? ` ${s.arg ?? 'VALUE'}` : ''}`;
    const def = s.default !== undefined ? ` (default: ${String(s.default)})` : '';
    lines.push(`  ${flag.padEnd(30)} ${s.help}${def}${s.multiple ? ' [repeatable]' : ''}`);
    lines.push(`  ${''.padEnd(30)} env: ${envName(name)}`);
  }
  lines.push(`  ${'--help'.padEnd(30)} show this help`);
  return lines.join('\n');
}

/** Typed accessors that validate and name the option in their errors. */
export function str(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new ConfigError(`--${name}`, 'expects a value');
  return v;
}

export function requireStr(values: OptionValues, name: string): string {
  const v = str(values, name);
  if (v === undefined || v === '') throw new ConfigError(`--${name}`, 'is required');
  return v;
}

export function list(values: OptionValues, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

export function bool(values: OptionValues, name: string): boolean {
  return values[name] === true;
}

export function int(values: OptionValues, name: string, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
  const raw = str(values, name);
  if (raw === undefined) throw new ConfigError(`--${name}`, 'is required');
  const n = parseSize(raw);
  if (n === undefined || !Number.isInteger(n)) throw new ConfigError(`--${name}`, `expects a whole number, got "${raw}"`);
  if (n < min || n > max) throw new ConfigError(`--${name}`, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** Durations: `300`, `300s`, `5m`, `250ms`, `2h`; returned in milliseconds. */
export function durationMs(values: OptionValues, name: string, minMs = 0): number {
  const raw = str(values, name);
  if (raw === undefined) throw new ConfigError(`--${name}`, 'is required');
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!m) throw new ConfigError(`--${name}`, `expects a duration like 30s, 5m or 250ms, got "${raw}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  const ms = Math.round(Number(m[1]) * unit);
  if (ms < minMs) throw new ConfigError(`--${name}`, `must be at least ${minMs} ms, got "${raw}"`);
  return ms;
}

/** `64KiB`, `1MiB`, `500000` → number. */
function parseSize(raw: string): number | undefined {
  const m = /^(\d+)\s*(k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(raw.trim());
  if (!m) return undefined;
  const mult = { k: 1024, kb: 1024, kib: 1024, m: 1 << 20, mb: 1 << 20, mib: 1 << 20, g: 1 << 30, gb: 1 << 30, gib: 1 << 30 }[
    (m[2] ?? '').toLowerCase() as 'k'
  ] ?? 1;
  return Number(m[1]) * mult;
}

export function oneOf<T extends string>(values: OptionValues, name: string, allowed: readonly T[]): T {
  const v = requireStr(values, name);
  if (!(allowed as readonly string[]).includes(v)) throw new ConfigError(`--${name}`, `must be one of ${allowed.join(', ')}, got "${v}"`);
  return v as T;
}

/** `HOST:PORT` or `[V6]:PORT`. */
export function hostPort(values: OptionValues, name: string): { host: string; port: number } {
  const v = requireStr(values, name);
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(v);
  if (!m) throw new ConfigError(`--${name}`, `expects HOST:PORT, got "${v}"`);
  const port = Number(m[3]);
  if (port > 65535) throw new ConfigError(`--${name}`, `port out of range in "${v}"`);
  return { host: m[1] ?? m[2] ?? '0.0.0.0', port };
}

export function usage(message: string): never {
  throw new UsageError(message);
}
