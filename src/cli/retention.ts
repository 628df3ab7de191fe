/**
 * `syslog-ledger retention`: the retention policy, and with --plan what it means for this ledger now:
 * which partitions are archived and dropped, when, and when their archives may be deleted
 * (docs/retention.md). Reads only; `syslog-ledger archive` acts on it.
 */
import { resolve } from 'node:path';
import { bool, helpText, parseOptions, requireStr, str, type OptionSpecs } from '../config.js';
import { resolveDatabase } from '../db/resolve.js';
import { POLICY_OPTIONS, nowFrom, policyFrom } from '../retention/cli.js';
import { formatPlan, planJson, planRetention } from '../retention/plan.js';
import { describePolicy } from '../retention/policy.js';
import pg from 'pg';
import { DB_OPTIONS } from './migrate.js';

export const RETENTION_OPTIONS = {
  ...DB_OPTIONS,
  ...POLICY_OPTIONS,
  plan: { type: 'boolean', help: 'show what would be archived and dropped, and when (reads the database)' },
  json: { type: 'boolean', help: 'print the plan as JSON' },
} as const satisfies OptionSpecs;

export async function retentionCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, RETENTION_OPTIONS);
  if (values.help) {
    console.log(helpText('syslog-ledger retention --retention POLICY [--plan] [options]', 'Show a retention policy; with --plan, what it archives and drops in this ledger, and when.', RETENTION_OPTIONS));
    return 0;
  }
  const policy = policyFrom(values);
  if (!bool(values, 'plan')) {
    console.log(`--retention ${policy.spec}: per source class, hot (in the database) and total (with archives); longest wins`);
    for (const line of describePolicy(policy)) console.log(line);
    return 0;
  }
  const now = nowFrom(values);
  const db = await resolveDatabase({ databaseUrl: str(values, 'database-url'), dataDir: resolve(requireStr(values, 'data-dir')) });
  try {
    const client = new pg.Client({ connectionString: db.url, application_name: 'syslog-ledger retention' });
    await client.connect();
    try {
      const plan = await planRetention(client, policy, now);
      if (bool(values, 'json')) console.log(JSON.stringify(planJson(plan)));
      else {
        for (const line of describePolicy(policy)) console.log(line);
        console.log('');
        for (const line of formatPlan(plan)) console.log(line);
      }
    } finally {
      await client.end();
    }
    return 0;
  } finally {
    await db.release();
  }
}
