/**
 * Change windows as cron-like schedules (docs/detections.md, "Change windows"): five fields, minute
 * hour day-of-month month day-of-week, in a time zone. A minute the expression matches is inside
 * the window, so `* 22-23 * * sat` is Saturday 22:00-23:59 and `* 9-17 * * mon-fri` office hours.
 *
 * Field syntax as in crontab(5): `*`, numbers, `a-b` ranges, `/step`, comma lists, month and day
 * names (`jan`, `mon`), 0 or 7 for Sunday. As in cron, when both day-of-month and day-of-week are
 * restricted, a day matching either one matches.
 */
import { ConfigError } from '../errors.js';

export interface CronSchedule {
  readonly source: string;
  readonly timeZone: string;
  /** True when the minute containing `ms` (in `timeZone`) is in the schedule. */
  matches(ms: number): boolean;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  /** First value of `names` (jan = 1, sun = 0). */
  readonly namesFrom?: number;
}

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, namesFrom: 1 },
  { name: 'day of week', min: 0, max: 7, names: DAYS, namesFrom: 0 },
];

function parseField(text: string, spec: FieldSpec, where: string): { set: Set<number>; star: boolean } {
  const set = new Set<number>();
  const value = (v: string): number => {
    const lower = v.toLowerCase();
    const i = spec.names?.indexOf(lower) ?? -1;
    const n = i >= 0 ? i + (spec.namesFrom ?? 0) : /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < spec.min || n > spec.max) throw new ConfigError('--detections', `${where}: ${spec.name} "${v}" is out of range ${spec.min}-${spec.max}`);
    return n;
  };
  for (const part of text.split(',')) {
    const [range = '', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new ConfigError('--detections', `${where}: bad step in "${part}"`);
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = spec.min;
      hi = spec.max;
    } else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      lo = value(a);
      hi = value(b);
      if (hi < lo) throw new ConfigError('--detections', `${where}: range "${range}" runs backwards`);
    } else {
      lo = value(range);
      hi = stepText === undefined ? lo : spec.max;
    }
    for (let v = lo; v <= hi; v += step) set.add(spec.name === 'day of week' && v === 7 ? 0 : v);
  }
  return { set, star: text === '*' };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', weekday: 'short', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Local minute, hour, day of month, month and weekday (0 = Sunday) of `ms` in `timeZone`. */
export function localFields(ms: number, timeZone: string): { minute: number; hour: number; day: number; month: number; weekday: number } {
  const out = { minute: 0, hour: 0, day: 1, month: 1, weekday: 0 };
  for (const p of formatter(timeZone).formatToParts(ms)) {
    switch (p.type) {
      case 'minute':
        out.minute = Number(p.value);
        break;
      case 'hour':
        out.hour = Number(p.value) % 24;
        break;
      case 'day':
        out.day = Number(p.value);
        break;
      case 'month':
        out.month = Number(p.value);
        break;
      case 'weekday':
        out.weekday = DAYS.indexOf(p.value.toLowerCase().slice(0, 3));
        break;
    }
  }
  return out;
}

export function parseCron(source: string, timeZone = 'UTC', where = 'change window'): CronSchedule {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new ConfigError('--detections', `${where}: unknown time zone "${timeZone}"`);
  }
  const parts = source.trim().split(/\s+/);
  if (parts.length !== 5) throw new ConfigError('--detections', `${where}: "${source}" must have 5 fields (minute hour day-of-month month day-of-week)`);
  const [minute, hour, dom, month, dow] = parts.map((p, i) => parseField(p, FIELDS[i]!, where)) as [
    ReturnType<typeof parseField>, ReturnType<typeof parseField>, ReturnType<typeof parseField>, ReturnType<typeof parseField>, ReturnType<typeof parseField>,
  ];
  // Intl formatting costs microseconds; events come in time order, so the last minute's answer is
  // usually the next one's (every zone's offset is a whole number of minutes).
  let lastMinute = Number.NaN;
  let lastAnswer = false;
  const compute = (ms: number): boolean => {
    const f = localFields(ms, timeZone);
    if (!minute.set.has(f.minute) || !hour.set.has(f.hour) || !month.set.has(f.month)) return false;
    const domOk = dom.set.has(f.day);
    const dowOk = dow.set.has(f.weekday);
    if (dom.star || dow.star) return domOk && dowOk;
    return domOk || dowOk;
  };
  return {
    source,
    timeZone,
    matches(ms: number): boolean {
      const minuteOf = Math.floor(ms / 60_000);
      if (minuteOf !== lastMinute) {
        lastAnswer = compute(ms);
        lastMinute = minuteOf;
      }
      return lastAnswer;
    },
  };
}
