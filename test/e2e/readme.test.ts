import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createTestDatabase, query } from '../helpers/db.js';

const root = join(import.meta.dirname, '../..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

describe('README', () => {
  it('shows the recommended client config verbatim, and deploy/clients/README.md lists every tested one', () => {
    const dir = join(root, 'deploy/clients');
    let relp = readFileSync(join(dir, 'rsyslog-relp.conf'), 'utf8');
    if (!relp.endsWith('\n')) relp += '\n';
    expect(readme).toContain(`\`deploy/clients/rsyslog-relp.conf\`:\n\n\`\`\`\n${relp}\`\`\``);
    const index = readFileSync(join(dir, 'README.md'), 'utf8');
    const configs = readdirSync(dir).filter((f) => f.endsWith('.conf'));
    expect(configs.length).toBeGreaterThanOrEqual(6);
    for (const f of configs) expect(index, f).toContain(`| \`${f}\` |`);
  });

  it('stays under 200 lines', () => {
    expect(readme.split('\n').length).toBeLessThan(200);
  });

  it('starts with npm install, npm start and npm test', () => {
    const i = readme.indexOf('npm install');
    const s = readme.indexOf('npm start');
    const t = readme.indexOf('npm test');
    expect(i).toBeGreaterThan(0);
    expect(s).toBeGreaterThan(i);
    expect(t).toBeGreaterThan(s);
  });

  it('every SQL query it shows runs against a migrated ledger', async () => {
    const blocks = [...readme.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThan(0);
    const db = await createTestDatabase('sl_readme');
    try {
      await migrate(db.url);
      for (const block of blocks) {
        for (const stmt of block.split(/;\s*\n/).map((x) => x.trim()).filter((x) => x.replace(/--.*$/gm, '').trim())) {
          await expect(query(db.url, stmt), stmt).resolves.toBeDefined();
        }
      }
    } finally {
      await db.drop();
    }
  });
});
