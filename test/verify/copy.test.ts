/**
 * verify's transport (src/verify/copy.ts): a binary COPY run as a pg submittable, its data cut
 * into rows whatever the chunks, and a COPY that fails rejects and leaves the connection usable.
 */
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COLUMNS, copyRange, copyRows, copySql, RowParser, type CopyRow } from '../../src/verify/copy.js';
import { appendCanonicalRows, createDb, type TestDb } from '../integrity/helpers.js';

const CHAIN = 'copy-chain';
let db: TestDb;
let client: pg.Client;

beforeAll(async () => {
  db = await createDb('sl_copy');
  await appendCanonicalRows(db.pool, CHAIN, 40);
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
});

afterAll(async () => {
  await client?.end();
  await db?.drop();
});

/** Each row's fields as hex (NULL as null): a copy that outlives the callback. */
const fieldsOf = (row: CopyRow): Array<string | null> =>
  COLUMNS.map((_, i) => ((row.len[i] as number) < 0 ? null : row.buf.subarray(row.start[i], (row.start[i] as number) + (row.len[i] as number)).toString('hex')));

/** The COPY's bytes as the server sends them, through pg-copy-streams (an independent reader). */
async function copyBytes(range: { chain: string; from?: number; to?: number }): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of client.query(copyStreams.to(copySql(client, range))) as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}

describe('verify-copy: binary COPY of a range', () => {
  it('copyRange gives every row of the range in seq order, with the fields the database holds', async () => {
    const rows: Array<Array<string | null>> = [];
    const n = await copyRange(client, { chain: CHAIN, from: 5, to: 31 }, (r) => rows.push(fieldsOf(r)));
    expect(n).toBe(26);
    const seqs = rows.map((f) => Number(BigInt(`0x${f[1]}`)));
    expect(seqs).toEqual(Array.from({ length: 26 }, (_, i) => 5 + i));
    const want = (await db.pool.query<{ hash: Buffer }>('SELECT hash FROM ledger WHERE chain = $1 AND seq >= 5 AND seq < 31 ORDER BY seq', [CHAIN])).rows;
    expect(rows.map((f) => f[COLUMNS.indexOf('hash')])).toEqual(want.map((r) => r.hash.toString('hex')));
  });

  it('RowParser gives the same rows however the data is cut (every split point, then one byte at a time)', async () => {
    const bytes = await copyBytes({ chain: CHAIN, to: 6 });
    const parse = (chunks: Buffer[]): Array<Array<string | null>> => {
      const out: Array<Array<string | null>> = [];
      const p = new RowParser((r) => out.push(fieldsOf(r)));
      // Copies, and scribbled over once fed: the parser may not keep what it was given.
      for (const c of chunks) {
        const own = Buffer.from(c);
        p.feed(own);
        own.fill(0xaa);
      }
      expect(p.end()).toBe(out.length);
      return out;
    };
    const whole = parse([bytes]);
    expect(whole).toHaveLength(5);
    for (let cut = 1; cut < bytes.length; cut += 7) expect(parse([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual(whole);
    expect(parse(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)))).toEqual(whole);
  });

  it('RowParser refuses data that is not binary COPY, a row of another width, a missing trailer and bytes after it', async () => {
    const bytes = await copyBytes({ chain: CHAIN, to: 3 });
    const feedAll = (b: Buffer): number => {
      const p = new RowParser(() => {});
      p.feed(b);
      return p.end();
    };
    expect(feedAll(bytes)).toBe(2);
    expect(() => feedAll(Buffer.from('not a COPY stream at all'))).toThrow(/not PostgreSQL binary COPY/);
    expect(() => feedAll(bytes.subarray(0, bytes.length - 2))).toThrow(/without its trailer/);
    expect(() => feedAll(Buffer.concat([bytes, Buffer.from([0])]))).toThrow(/after the trailer/);
    const narrow = Buffer.from(bytes);
    narrow.writeInt16BE(3, 19); // the first row's field count, right after the 19-byte header
    expect(() => feedAll(narrow)).toThrow(/row with 3 fields/);
  });

  it('a COPY the server refuses rejects with its error, and the connection runs the next query', async () => {
    // NaN is not a number PostgreSQL reads: `seq >= NaN` names a column that does not exist.
    await expect(copyRange(client, { chain: CHAIN, from: Number.NaN }, () => {})).rejects.toThrow(/column "nan" does not exist/);
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('a COPY whose data is not complete binary COPY rejects (never throws out of pg), and the connection runs the next query', async () => {
    // Text format, 2 bytes: shorter than a binary header, so the data simply ends without a trailer.
    await expect(copyRows(client, 'COPY (SELECT 1) TO STDOUT', () => {})).rejects.toThrow(/without its trailer/);
    await expect(copyRows(client, "COPY (SELECT repeat('x', 40)) TO STDOUT", () => {})).rejects.toThrow(/not PostgreSQL binary COPY/);
    expect((await client.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
  });

  it('an error thrown while handling a row rejects copyRange once the server is done, and the connection runs the next query', async () => {
    let calls = 0;
    await expect(
      copyRange(client, { chain: CHAIN }, () => {
        calls++;
        throw new Error('row handler failed');
      }),
    ).rejects.toThrow('row handler failed');
    expect(calls).toBe(1);
    expect((await client.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
  });
});
