import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { expectPlainJson, fromMessage, get } from './helpers.js';

/** Rows of the mapping tables in docs/ocsf.md: | `rule` | `program` | `example MSG` | class/act/status | ... | */
const ROW = /^\| `([a-z_.]+)` \| `([^`]+)` \| `([^`]+)` \| (\d+)\/(\d+)\/(\d+) \|/;

const rows = readFileSync(new URL('../../docs/ocsf.md', import.meta.url), 'utf8')
  .split('\n')
  .map((l) => ROW.exec(l))
  .filter((m): m is RegExpExecArray => m !== null);

describe('docs/ocsf.md examples', () => {
  it('docs: the mapping tables have examples', () => {
    expect(rows.length).toBeGreaterThan(140);
  });
  for (const [, rule, program, msg, cls, act, status] of rows) {
    it(`docs: ${rule}: ${msg!.slice(0, 60)}`, () => {
      const n = fromMessage(program!, msg!, { host: null });
      expect({ rule: get(n.event, 'metadata.mapping.rule'), cls: n.event.class_uid, act: n.event.activity_id, status: n.event.status_id }).toEqual({
        rule, cls: Number(cls), act: Number(act), status: Number(status),
      });
      expectPlainJson(n.event);
    });
  }
});
