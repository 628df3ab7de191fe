import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import { defaultChain, proveCommand, type ConsistencyProofDoc, type InclusionProofDoc } from '../../src/cli/prove.js';
import { verifyProofCommand } from '../../src/cli/verify-proof.js';
import { canonicalJson, chainHash } from '../../src/ledger/canonical.js';
import { Checkpointer } from '../../src/checkpoints/checkpointer.js';
import { loadOrCreateSigningKey, type SigningKey } from '../../src/checkpoints/signing.js';
import { appendCanonicalRows, createDb, tamper, tempDir, type TestDb } from './helpers.js';
import pino from 'pino';
import { LedgerWriter } from '../../src/ledger/writer.js';
import { Metrics } from '../../src/metrics/registry.js';
import { toRecord } from '../../src/stages.js';
import type { PeerIdentity } from '../../src/listener/identity.js';

let db: TestDb;
let tmp: Awaited<ReturnType<typeof tempDir>>;
let key: SigningKey;
let pub: string;
const CHAIN = 'web1';
/** Rows 1301-1500 of the chain: format v3, as serve writes now. */
const V3_CHAIN = CHAIN;

async function prove(args: string[]): Promise<{ code: number; doc: unknown; err: string }> {
  let out = '';
  let err = '';
  const access = ['--signing-key', tmp.path('ledger-signing.key'), '--checkpoint-file', tmp.path('checkpoints.jsonl')];
  const code = await proveCommand([...args, ...access], { databaseUrl: db.url, stdout: (t) => (out += t), stderr: (t) => (err += t) });
  return { code, doc: out ? (JSON.parse(out) as unknown) : undefined, err };
}

async function verifyProof(doc: unknown, keyFile = pub): Promise<{ code: number; out: string }> {
  const path = tmp.path(`proof-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(path, JSON.stringify(doc));
  let out = '';
  const code = await verifyProofCommand(['--public-key', keyFile, path], { stdout: (t) => (out += t), stderr: (t) => (out += t) });
  return { code, out };
}

beforeAll(async () => {
  db = await createDb('sl_prove');
  tmp = await tempDir();
  key = await loadOrCreateSigningKey(tmp.path('ledger-signing.key'));
  pub = tmp.path('ledger-signing.key.pub');
  const cpr = new Checkpointer({ key, file: tmp.path('checkpoints.jsonl') });
  await cpr.init(db.pool, { chains: [CHAIN] });
  // A chain written before canonical form version 2 (seq 1-600), then by a version 2 writer.
  const rows = [...(await appendCanonicalRows(db.pool, CHAIN, 600, 1)), ...(await appendCanonicalRows(db.pool, CHAIN, 700))];
  for (let i = 0; i < rows.length; i += 100) await cpr.onCommitted(CHAIN, rows.slice(i, i + 100));
  // Ledger format v3 (what serve writes): real frames through the real writer, on two connections.
  const metrics = new Metrics({ defaultMetrics: false });
  const writer = new LedgerWriter({
    databaseUrl: db.url, chain: V3_CHAIN, metrics, log: pino({ level: 'silent' }), batchMaxEvents: 50, queueMaxEvents: 10_000, queueMaxBytes: 1 << 24,
    onCommitted: (committed) => cpr.onCommitted(V3_CHAIN, committed),
  });
  await writer.start();
  const peers: PeerIdentity[] = [
    { cn: 'client1.example.com', sans: ['DNS:client1.example.com'], subject: 'CN=client1.example.com', fingerprint: 'ab'.repeat(32), address: '127.0.0.1:50001' },
    { cn: 'client2.example.com', sans: [], subject: 'CN=client2.example.com', fingerprint: 'cd'.repeat(32), address: '127.0.0.1:50002', transport: 'relp' },
  ];
  for (let i = 1; i <= 200; i++) {
    const raw = Buffer.from(`<38>Nov 28 12:00:01 bastion sshd[${1000 + i}]: Failed password for user${i} from 203.0.113.${i % 250} port ${40000 + i} ssh2`);
    writer.enqueue(toRecord({ raw, body: raw, truncated: false, framing: 'lf' }, peers[i % 2]!, Date.UTC(2026, 10, 28) * 1000 + i, { format: 'auto', timeZone: 'UTC' }, metrics));
  }
  await writer.close();
  await cpr.close();
});
afterAll(async () => {
  await db.drop();
  await tmp.remove();
});

describe('prove / verify-proof', () => {
  it('a format v3 event: the proof carries the event, its sender and its stored row; verify-proof checks all three', async () => {
    const r = await prove(['--chain', V3_CHAIN, '--seq', '1377']);
    expect(r.code, r.err).toBe(0);
    const doc = r.doc as InclusionProofDoc;
    expect(doc.event.peer_cn).toBe('client2.example.com');
    expect(doc.event.v3?.connection).toMatchObject({ transport: 'relp', peer_addr: '127.0.0.1:50002', peer_cn: 'client2.example.com' });
    const ev = doc.event.event as { message: string; user: { name: string }; metadata: { peer: { cn: string } } };
    expect(ev.message).toBe('Failed password for user77 from 203.0.113.77 port 40077 ssh2');
    expect(ev.user.name).toBe('user77');
    expect(ev.metadata.peer.cn).toBe('client2.example.com');
    expect((await verifyProof(doc)).out).toMatch(/^valid: event seq 1377/);
    // The event, the sender or the stored row changed: invalid.
    const changedEvent = { ...doc, event: { ...doc.event, event: { ...ev, message: 'nothing happened' } } };
    expect((await verifyProof(changedEvent)).out).toMatch(/the event shown is not the one its v3 row gives/);
    const changedSender = { ...doc, event: { ...doc.event, peer_cn: 'trusted.example.com' } };
    expect((await verifyProof(changedSender)).out).toMatch(/the sender shown is not the row's connection/);
    const changedConn = { ...doc, event: { ...doc.event, peer_cn: 'trusted.example.com', v3: { ...doc.event.v3!, connection: { ...doc.event.v3!.connection!, peer_cn: 'trusted.example.com' } } } };
    expect((await verifyProof(changedConn)).out).toMatch(/does not hash to row_hash/);
  });

  it('prove: an inclusion proof for event N verifies offline with the public key', async () => {
    const r = await prove(['--chain', CHAIN, '--seq', '777']);
    expect(r.code).toBe(0);
    const doc = r.doc as InclusionProofDoc;
    expect(doc).toMatchObject({ type: 'syslog-ledger/inclusion-proof', chain: CHAIN, seq: 777, leaf_index: 776, tree_size: 1500, ledger_id: db.ledgerId });
    expect(doc.proof.length).toBeLessThanOrEqual(Math.ceil(Math.log2(1500)));
    expect(Buffer.from(doc.event.raw_base64, 'base64').toString()).toContain('user777');
    expect(doc.event.columns).toMatchObject({ user_name: 'user777', src_ip: '2001:db8::309', event_time: '2023-11-14T22:13:20.123456Z' });
    const v = await verifyProof(doc);
    expect(v.out).toMatch(/^valid: event seq 777/);
    expect(v.code).toBe(0);
  });

  it('verify-proof: a version 2 event with a changed lifted column is invalid; a version 1 event carries none', async () => {
    const doc = (await prove(['--chain', CHAIN, '--seq', '777'])).doc as InclusionProofDoc;
    const changed = { ...doc, event: { ...doc.event, columns: { ...doc.event.columns!, user_name: 'root' } } };
    expect((await verifyProof(changed)).out).toMatch(/does not hash to row_hash/);
    const { columns: _c, ...withoutColumns } = doc.event;
    expect((await verifyProof({ ...doc, event: withoutColumns })).code).toBe(1);
    const v1 = (await prove(['--chain', CHAIN, '--seq', '5'])).doc as InclusionProofDoc;
    expect(v1.event.columns).toBeUndefined();
    expect((await verifyProof(v1)).code).toBe(0);
  });

  it('verify-proof: a changed event, leaf or path is invalid', async () => {
    const doc = (await prove(['--chain', CHAIN, '--seq', '5'])).doc as InclusionProofDoc;
    const changedRaw = { ...doc, event: { ...doc.event, raw_base64: Buffer.from('<86>1 - web1 sshd - - - nothing happened').toString('base64') } };
    expect((await verifyProof(changedRaw)).out).toMatch(/does not hash to row_hash/);
    const changedEvent = { ...doc, event: { ...doc.event, event: { ...(doc.event.event as object), user: { name: 'root' } } } };
    expect((await verifyProof(changedEvent)).code).toBe(1);
    // A different (self-consistent) event: its hashes are recomputed, but the signed root does not move.
    const ev = { ...doc.event, raw_base64: Buffer.from('forged').toString('base64') };
    const forgedHash = chainHash(Buffer.from(doc.prev_hash, 'hex'), {
      chain: CHAIN, seq: 5, receivedAtUs: ev.received_at_us, peerCn: ev.peer_cn, peerSans: ev.peer_sans, peerAddr: ev.peer_addr,
      format: ev.format, truncated: ev.truncated, parseError: ev.parse_error, raw: Buffer.from('forged'),
      syslogJson: canonicalJson(ev.syslog), eventJson: canonicalJson(ev.event),
    });
    const { leafHash } = await import('../../src/checkpoints/merkle.js');
    const forged = { ...doc, event: ev, row_hash: forgedHash.toString('hex'), leaf_hash: leafHash(forgedHash).toString('hex') };
    const v = await verifyProof(forged);
    expect(v.code).toBe(1);
    expect(v.out).toMatch(/does not lead to the signed Merkle root/);
    const path = [...doc.proof];
    path[0] = '00'.repeat(32);
    expect((await verifyProof({ ...doc, proof: path })).code).toBe(1);
    expect((await verifyProof({ ...doc, seq: 6, leaf_index: 5 })).code).toBe(1);
  });

  it('verify-proof: a checkpoint re-signed by another key is refused', async () => {
    const doc = (await prove(['--chain', CHAIN, '--seq', '5'])).doc as InclusionProofDoc;
    await loadOrCreateSigningKey(tmp.path('other.key'));
    const v = await verifyProof(doc, tmp.path('other.key.pub'));
    expect(v.code).toBe(1);
    expect(v.out).toMatch(/not among the public keys/);
    const badSig = { ...doc, checkpoint: { ...doc.checkpoint, merkle_root: 'ab'.repeat(32) } };
    expect((await verifyProof(badSig)).out).toMatch(/signature does not verify/);
  });

  it('prove: against an older checkpoint with --tree-size, and consistency between checkpoints', async () => {
    const old = await prove(['--chain', CHAIN, '--seq', '999', '--tree-size', '1000']);
    expect(old.code).toBe(0);
    expect((old.doc as InclusionProofDoc).tree_size).toBe(1000);
    expect((await verifyProof(old.doc)).code).toBe(0);
    const c = await prove(['--chain', CHAIN, '--consistency', '1000', 'latest']);
    expect(c.code).toBe(0);
    const doc = c.doc as ConsistencyProofDoc;
    expect(doc.first.tree_size).toBe(1000);
    expect(doc.second.tree_size).toBe(1500);
    const v = await verifyProof(doc);
    expect(v.out).toMatch(/^valid: chain "web1"/);
    const wrong = { ...doc, proof: doc.proof.slice(1) };
    expect((await verifyProof(wrong)).code).toBe(1);
    const swapped = { ...doc, first: doc.second, second: doc.first };
    expect((await verifyProof(swapped)).code).toBe(1);
  });

  it('prove: refuses events no checkpoint covers yet, and unknown seqs', async () => {
    await appendCanonicalRows(db.pool, CHAIN, 3);
    const r = await prove(['--chain', CHAIN, '--seq', '1502']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/not covered by a checkpoint yet/);
    expect((await prove(['--chain', CHAIN, '--seq', '12', '--tree-size', '999'])).code).toBe(2);
    expect((await prove(['--chain', CHAIN])).code).toBe(2);
  });

  it('prove: an event changed in the database after signing yields a proof that fails', async () => {
    // The attacker rewrites event 600 and its hash with the real canonical form (prev_hash unchanged).
    const row = (await db.pool.query<{ prev_hash: Buffer }>('SELECT prev_hash FROM ledger WHERE chain = $1 AND seq = 600', [CHAIN])).rows[0]!;
    const doc = (await prove(['--chain', CHAIN, '--seq', '600'])).doc as InclusionProofDoc;
    const raw = Buffer.from('<86>1 - web1 sshd - - - session closed');
    const h = chainHash(row.prev_hash, {
      chain: CHAIN, seq: 600, receivedAtUs: doc.event.received_at_us, peerCn: doc.event.peer_cn, peerSans: doc.event.peer_sans,
      peerAddr: doc.event.peer_addr, format: doc.event.format, truncated: false, parseError: null, raw,
      syslogJson: canonicalJson(doc.event.syslog), eventJson: canonicalJson(doc.event.event),
    });
    await tamper(db.pool, 'ledger', 'UPDATE ledger SET raw = $2, hash = $3 WHERE chain = $1 AND seq = 600', [CHAIN, raw, h]);
    const r = await prove(['--chain', CHAIN, '--seq', '600']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/does NOT verify/);
    const v = await verifyProof(r.doc);
    expect(v.code).toBe(1);
    // The untouched proof printed before the change still verifies: it is evidence of the original event.
    expect((await verifyProof(doc)).code).toBe(0);
  });

  it('prove: every proof read is an API Activity (6003) record in the access chain; without the key, no proof is printed', async () => {
    const before = Number((await db.pool.query<{ n: string }>("SELECT count(*) AS n FROM ledger WHERE chain = 'syslog-ledger.access'")).rows[0]!.n);
    expect((await prove(['--chain', CHAIN, '--seq', '42'])).code).toBe(0);
    const rows = (await db.pool.query<{ event: { api: unknown; unmapped: { access: Record<string, unknown> } }; class_uid: number }>(
      "SELECT event::jsonb AS event, class_uid FROM ledger WHERE chain = 'syslog-ledger.access' ORDER BY seq DESC LIMIT 1",
    )).rows;
    expect(rows[0]).toMatchObject({ class_uid: 6003, event: { api: { operation: 'prove' }, unmapped: { access: { chain: CHAIN, seq: 42, rows: 1, valid: true } } } });
    expect(Number((await db.pool.query<{ n: string }>("SELECT count(*) AS n FROM ledger WHERE chain = 'syslog-ledger.access'")).rows[0]!.n)).toBe(before + 1);
    let out = '';
    let err = '';
    const code = await proveCommand(['--chain', CHAIN, '--seq', '42', '--signing-key', tmp.path('absent.key')], { databaseUrl: db.url, stdout: (t) => (out += t), stderr: (t) => (err += t) });
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toMatch(/records each read/);
  });
});

describe('prove without --chain (issue 20)', () => {
  it('prove: with one chain in the ledger, --chain may be left out', async () => {
    const r = await prove(['--seq', '5']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect((r.doc as InclusionProofDoc).chain).toBe(CHAIN);
    expect((await verifyProof(r.doc)).code).toBe(0);
  });

  it("prove: with several chains, this host's chain (serve's default name); else an error listing them", async () => {
    await db.pool.query(`INSERT INTO chains (chain) VALUES ('db2.example.com')`);
    expect(await defaultChain(db.pool, CHAIN)).toBe(CHAIN);
    await expect(defaultChain(db.pool, 'elsewhere')).rejects.toThrow(/2 chains and none is named after this host \(elsewhere\): choose one with --chain NAME\n {2}db2\.example\.com\n {2}web1$/);
    const r = await prove(['--seq', '5']);
    if (hostname() !== CHAIN) {
      expect(r.code).toBe(2);
      expect(r.err).toContain('choose one with --chain NAME\n  db2.example.com\n  web1\n');
    }
  });
});
