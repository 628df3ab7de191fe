/**
 * Retention policies and the plan they give, on a real PostgreSQL: monthly partitions 2016-12 ..
 * 2026-03 with a row in each (and an auth event in some), evaluated at 2026-01-15.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { planRetention, type RetentionPlan } from '../../src/retention/plan.js';
import { PRESETS, PRESET_NAMES, addPeriod, parsePeriod, parsePolicy, requirement } from '../../src/retention/policy.js';
import { cli, createEnv, type RetentionEnv } from './helpers.js';

const NOW = new Date('2026-01-15T00:00:00Z');
let env: RetentionEnv;

const day = (d: Date | null | undefined): string | undefined => d?.toISOString().slice(0, 10);

async function plan(spec: string, hot?: string): Promise<RetentionPlan> {
  return planRetention(env.pool, parsePolicy(spec, hot ? { hot } : {}), NOW);
}

function entry(p: RetentionPlan, name: string): RetentionPlan['partitions'][number] {
  const e = p.partitions.find((x) => x.partition.name === name);
  if (!e) throw new Error(`no ${name} in plan`);
  return e;
}

/** The newest partition due for archive. */
function lastDue(p: RetentionPlan): string | undefined {
  return p.partitions.filter((x) => x.action === 'archive').at(-1)?.partition.name;
}

beforeAll(async () => {
  env = await createEnv('sl_ret_plan');
  await env.pool.query(`SET TimeZone = 'UTC'`);
  const c = await env.pool.connect();
  try {
    await c.query(`SET TimeZone = 'UTC'`);
    await c.query(`SELECT ledger_create_partition(d, d + interval '1 month') FROM generate_series('2016-12-01'::timestamptz, '2026-03-01', interval '1 month') d`);
    // One ordinary row per month; an auth event (OCSF 3002) in 2020-06 and 2025-06; a debug-only month.
    await c.query(
      `INSERT INTO ledger (chain, seq, received_at, format, raw, syslog, event, class_uid, prev_hash, hash)
       SELECT 'plan', row_number() OVER (ORDER BY d), d + interval '3 days', 'rfc5424', 'x'::bytea,
              CASE WHEN d = '2024-02-01' THEN '{"severity":7}' ELSE '{"severity":6,"facility":1}' END::json, '{}'::json,
              CASE WHEN d IN ('2020-06-01', '2025-06-01') THEN 3002 ELSE 0 END,
              decode(repeat('00', 32), 'hex'), decode(repeat('11', 32), 'hex')
         FROM generate_series('2016-12-01'::timestamptz, '2026-02-01', interval '1 month') d`,
    );
  } finally {
    c.release();
  }
}, 120_000);

afterAll(async () => {
  await env?.cleanup();
});

describe('retention policies', () => {
  it('policy: periods parse in days, weeks, months and years, and months are never minutes', () => {
    expect(parsePeriod('90d')).toEqual({ months: 0, days: 90 });
    expect(parsePeriod('2w')).toEqual({ months: 0, days: 14 });
    expect(parsePeriod('3mo')).toEqual({ months: 3, days: 0 });
    expect(parsePeriod('6y')).toEqual({ months: 72, days: 0 });
    expect(() => parsePeriod('3m')).toThrow(/months are "mo": 3mo/);
    expect(() => parsePeriod('1 year')).toThrow(ConfigError);
    expect(addPeriod(new Date('2025-01-31T00:00:00Z'), parsePeriod('1mo')).toISOString()).toBe('2025-02-28T00:00:00.000Z');
    expect(addPeriod(new Date('2024-02-29T00:00:00Z'), parsePeriod('1y')).toISOString()).toBe('2025-02-28T00:00:00.000Z');
  });

  it('policy: every preset sets the default class with its own hot window and total', () => {
    const expected: Record<string, [string, string]> = {
      soc2: ['90d', '1y'],
      hipaa: ['90d', '6y'],
      'pci-dss': ['3mo', '1y'],
      fedramp: ['90d', '3y'],
      iso27001: ['90d', '3y'],
      gdpr: ['30d', '6mo'],
    };
    for (const name of PRESET_NAMES) {
      const p = parsePolicy(name);
      expect(p.rules).toHaveLength(1);
      expect(p.rules[0]).toMatchObject({ cls: 'default', hot: parsePeriod(expected[name]![0]), total: parsePeriod(expected[name]![1]), source: name });
      expect(PRESETS[name].note.length).toBeGreaterThan(10);
    }
  });

  it('policy: several presets and explicit classes combine, the longest wins per class and per partition', () => {
    const p = parsePolicy('gdpr,hipaa,auth=7y,debug=90d');
    const end = new Date('2025-01-01T00:00:00Z');
    const plain = requirement(p, end, new Set(['default']));
    expect(day(plain.expireAt)).toBe('2031-01-01');
    expect(plain.totalRule.source).toBe('hipaa');
    expect(day(plain.archiveAt)).toBe('2025-04-01'); // hipaa 90d beats gdpr 30d
    const withAuth = requirement(p, end, new Set(['default', 'auth']));
    expect(day(withAuth.expireAt)).toBe('2032-01-01');
    expect(withAuth.totalRule.source).toBe('auth=7y');
    // A class rule can only lengthen: debug=90d does not shorten what else shares the partition.
    expect(day(requirement(p, end, new Set(['default', 'debug'])).expireAt)).toBe('2031-01-01');
    // An explicit item's hot window is --hot (capped at its total).
    expect(parsePolicy('default=30d', { hot: '1y' }).rules[0]!.hot).toEqual({ months: 0, days: 30 });
    expect(parsePolicy('default=2y', { hot: '7d' }).rules[0]!.hot).toEqual({ months: 0, days: 7 });
  });

  it('policy: unknown presets and classes, and a policy silent about other events, are refused with the option named', () => {
    expect(() => parsePolicy('sox')).toThrow(/--retention: unknown preset "sox"/);
    expect(() => parsePolicy('hipaa,kernel=1y')).toThrow(/unknown source class "kernel"/);
    expect(() => parsePolicy('auth=6y,debug=90d')).toThrow(/says nothing about events outside auth, debug: add a preset or default=DURATION/);
    expect(() => parsePolicy('')).toThrow(/--retention: is required/);
  });
});

describe('retention --plan per preset (2026-01-15)', () => {
  // Each preset: the newest partition that leaves now, the first that stays, and when the archive of
  // 2025-01 (partition end 2025-02-01) may be deleted.
  const cases: Array<[string, string, string, string]> = [
    ['soc2', 'ledger_p20250901', 'ledger_p20251001', '2026-02-01'],
    ['hipaa', 'ledger_p20250901', 'ledger_p20251001', '2031-02-01'],
    ['pci-dss', 'ledger_p20250901', 'ledger_p20251001', '2026-02-01'],
    ['fedramp', 'ledger_p20250901', 'ledger_p20251001', '2028-02-01'],
    ['iso27001', 'ledger_p20250901', 'ledger_p20251001', '2028-02-01'],
    ['gdpr', 'ledger_p20251101', 'ledger_p20251201', '2025-08-01'],
  ];
  for (const [preset, due, stays, expires] of cases) {
    it(`plan: ${preset} archives up to ${due}, keeps ${stays} hot, and keeps the 2025-01 archive until ${expires}`, async () => {
      const p = await plan(preset);
      expect(lastDue(p)).toBe(due);
      const s = entry(p, stays);
      expect(s.action).toBe('hot');
      expect(s.requirement!.archiveAt.getTime()).toBeGreaterThan(NOW.getTime());
      expect(day(entry(p, 'ledger_p20250101').requirement!.expireAt)).toBe(expires);
      // Every partition before the due one is due too; none after it is; DEFAULT never.
      const names = p.partitions.map((x) => x.partition.name);
      for (const x of p.partitions) {
        if (x.partition.isDefault) expect(x.action).toBe('default');
        else expect(x.action === 'archive').toBe(names.indexOf(x.partition.name) <= names.indexOf(due));
      }
    });
  }

  it('plan: pci-dss keeps exactly the last three months immediately available', async () => {
    const p = await plan('pci-dss');
    // 2025-10 ends 2025-11-01: three months later is 2026-02-01.
    expect(day(entry(p, 'ledger_p20251001').requirement!.archiveAt)).toBe('2026-02-01');
    expect(day(entry(p, 'ledger_p20250901').requirement!.archiveAt)).toBe('2026-01-01');
  });

  it('plan: a per-class rule keeps only the partitions holding that class longer (auth=7y on top of pci-dss)', async () => {
    const p = await plan('pci-dss,auth=7y');
    expect(entry(p, 'ledger_p20250601').classes).toEqual(['default', 'auth']);
    expect(day(entry(p, 'ledger_p20250601').requirement!.expireAt)).toBe('2032-07-01');
    expect(entry(p, 'ledger_p20250501').classes).toEqual(['default']);
    expect(day(entry(p, 'ledger_p20250501').requirement!.expireAt)).toBe('2026-06-01');
    // Leaving the database is set by the hot windows (auth's explicit 90d vs pci's 3 months).
    expect(entry(p, 'ledger_p20250601').action).toBe('archive');
  });

  it('plan: empty and DEFAULT partitions, and the text names what leaves, when, and which rule says so', async () => {
    const p = await plan('hipaa');
    expect(entry(p, 'ledger_p20260301').hasRows).toBe(false);
    expect(entry(p, 'ledger_default').action).toBe('default');
    const r = await cli(['retention', '--database-url', env.url, '--retention', 'hipaa', '--plan', '--now', NOW.toISOString()]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/ledger_p20250901 +2025-09-01\.\.2025-10-01 .*\n +ARCHIVE NOW \(due since 2025-12-30\), then drop; archive kept until 2031-10-01 \(hot per default \(hipaa\), kept per default \(hipaa\)\)/);
    expect(r.out).toMatch(/ledger_p20251001 .*\n +stays until 2026-01-30, then archive and drop; archive kept until 2031-11-01/);
    expect(r.out).toMatch(/ledger_default +DEFAULT partition \(empty\): never archived/);
    expect(r.out).toMatch(/^106 partition\(s\) due for archive, 0 archive\(s\) past their retention\. Nothing else leaves/m);
    const j = await cli(['retention', '--database-url', env.url, '--retention', 'gdpr', '--plan', '--json', '--now', NOW.toISOString()]);
    const doc = JSON.parse(j.out) as { partitions: Array<{ name: string; action: string; expires_at: string }> };
    expect(doc.partitions.find((x) => x.name === 'ledger_p20251101')).toMatchObject({ action: 'archive', expires_at: '2026-06-01T00:00:00.000Z' });
  });

  it('plan: archives already made are kept until the later of the recorded and the current expiry, then may be deleted', async () => {
    const file = join(env.dir, 'old.jsonl.gz');
    await writeFile(file, 'x');
    const manifest = JSON.stringify({ classes: { default: 1 } });
    await env.pool.query(
      `INSERT INTO ledger_archives (partition, range_from, range_to, rows, path, sha256, expires_at, manifest)
       VALUES ('ledger_p20160101', '2016-01-01', '2016-02-01', 1, $1, decode(repeat('00', 32), 'hex'), '2017-02-01', $2),
              ('ledger_p20160201', '2016-02-01', '2016-03-01', 1, $1, decode(repeat('00', 32), 'hex'), '2030-01-01', $2),
              ('ledger_p20160301', '2016-03-01', '2016-04-01', 1, $1 || '.gone', decode(repeat('00', 32), 'hex'), '2030-01-01', $2)`,
      [file, manifest],
    );
    const p = await plan('soc2');
    expect(p.archives.map((a) => [a.partition, a.action, day(a.expiresAt)])).toEqual([
      ['ledger_p20160101', 'expire', '2017-02-01'],
      ['ledger_p20160201', 'keep', '2030-01-01'],
      ['ledger_p20160301', 'missing', '2030-01-01'],
    ]);
    // Under hipaa the first is still required (2016-02-01 + 6y = 2022-02-01 < now: it may go too).
    expect((await plan('hipaa')).archives[0]!.action).toBe('expire');
    const r = await cli(['retention', '--database-url', env.url, '--retention', 'soc2', '--plan', '--now', NOW.toISOString()]);
    expect(r.out).toMatch(/ledger_p20160101 +1 rows, archived \d{4}-\d\d-\d\d: EXPIRED since 2017-02-01: may be deleted \(archive --expire\)/);
    expect(r.out).toMatch(/ledger_p20160201 +1 rows, archived .*: keep until 2030-01-01/);
    expect(r.out).toMatch(/ledger_p20160301 +1 rows, archived .*: MISSING: the file is gone but required until 2030-01-01/);
    expect(r.out).toMatch(/1 archive\(s\) past their retention, 1 MISSING\./);
  });

  it('retention without --plan prints the policy, one line per rule with its source', async () => {
    const r = await cli(['retention', '--retention', 'pci-dss,auth=hipaa,debug=90d']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/default +hot 3mo +total 1y +\(pci-dss: PCI DSS v4\.0 Req\. 10\.5\.1/);
    expect(r.out).toMatch(/auth +hot 90d +total 6y +\(auth=hipaa\)/);
    expect(r.out).toMatch(/debug +hot 90d +total 90d +\(debug=90d\)/);
    const bad = await cli(['retention', '--retention', 'pci']);
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/invalid option --retention: unknown preset "pci"/);
  });

  it('archive --dry-run prints the plan; a real run refuses a ledger that is not intact and drops nothing', async () => {
    const base = ['archive', '--database-url', env.url, '--retention', 'hipaa', '--now', NOW.toISOString(), '--signing-key', env.keyFile, '--checkpoint-file', env.checkpointFile, '--archive-dir', env.archiveDir];
    const dry = await cli([...base, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/106 partition\(s\) due for archive/);
    // These rows carry made-up hashes: archive re-hashes every row and refuses.
    const real = await cli(base);
    expect(real.code).toBe(2);
    expect(real.out).toMatch(/ledger_p20161201: the ledger is not intact at chain "plan" seq 1 \(row content does not match its hash\): nothing archived; run syslog-ledger verify/);
    expect((await env.pool.query("SELECT to_regclass('ledger_p20161201') IS NOT NULL AS here")).rows[0]).toEqual({ here: true });
    expect((await env.pool.query('SELECT count(*)::int AS n FROM ledger_archives WHERE partition = $1', ['ledger_p20161201'])).rows[0]).toEqual({ n: 0 });
    const missing = await cli(['archive', '--database-url', env.url, '--retention', 'hipaa', '--signing-key', '/nonexistent/key']);
    expect(missing.code).toBe(2);
    expect(missing.out).toMatch(/--signing-key: .*not found: archive signs the retention chain/);
  });
});
