import { randomBytes, randomUUID } from 'node:crypto';
import { appendFile, readFile, stat, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointFile, readCheckpointFile } from '../../src/checkpoints/file.js';
import {
  ForeignCheckpointFileError,
  checkpointSignedBytes,
  keyMap,
  parseCheckpoint,
  serializeCheckpoint,
  signCheckpoint,
  verifyCheckpointSignature,
  type Checkpoint,
} from '../../src/checkpoints/checkpoint.js';
import { keyIdOf, loadOrCreateSigningKey, loadPublicKey, rawPublicKey, type SigningKey } from '../../src/checkpoints/signing.js';
import { tempDir } from './helpers.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let key: SigningKey;
let other: SigningKey;
const ledgerId = randomUUID();

beforeAll(async () => {
  tmp = await tempDir();
  key = await loadOrCreateSigningKey(tmp.path('certs/ledger-signing.key'));
  other = await loadOrCreateSigningKey(tmp.path('certs/other.key'));
});
afterAll(() => tmp.remove());

function cp(seq: number, k = key, ledger = ledgerId, chain = 'host-a'): Checkpoint {
  return signCheckpoint(
    {
      ledger_id: ledger,
      chain,
      seq,
      tree_size: seq,
      head_hash: randomBytes(32).toString('hex'),
      merkle_root: randomBytes(32).toString('hex'),
      time: new Date(1_700_000_000_000 + seq).toISOString(),
    },
    k,
  );
}

describe('signing: Ed25519 key files', () => {
  it('signing: creates a 0600 PKCS#8 key and its SPKI .pub when absent, then loads it', async () => {
    expect(key.created).toBe(true);
    const st = await stat(tmp.path('certs/ledger-signing.key'));
    expect(st.mode & 0o777).toBe(0o600);
    const pem = await readFile(tmp.path('certs/ledger-signing.key'), 'utf8');
    expect(pem).toContain('BEGIN PRIVATE KEY');
    expect(await readFile(tmp.path('certs/ledger-signing.key.pub'), 'utf8')).toContain('BEGIN PUBLIC KEY');
    const again = await loadOrCreateSigningKey(tmp.path('certs/ledger-signing.key'));
    expect(again.created).toBe(false);
    expect(again.keyId).toBe(key.keyId);
    const pub = await loadPublicKey(tmp.path('certs/ledger-signing.key.pub'));
    expect(pub.keyId).toBe(key.keyId);
  });

  it('signing: the key id is the first 16 bytes of SHA-256 of the raw public key', async () => {
    const { createHash } = await import('node:crypto');
    expect(rawPublicKey(key.publicKey).length).toBe(32);
    expect(keyIdOf(key.publicKey)).toBe(createHash('sha256').update(rawPublicKey(key.publicKey)).digest().subarray(0, 16).toString('hex'));
  });

  it('signing: refuses a .pub that does not belong to the private key', async () => {
    await writeFile(tmp.path('certs/mismatch.key'), await readFile(tmp.path('certs/ledger-signing.key')));
    await writeFile(tmp.path('certs/mismatch.key.pub'), await readFile(tmp.path('certs/other.key.pub')));
    await expect(loadOrCreateSigningKey(tmp.path('certs/mismatch.key'))).rejects.toThrow(/is not the public key/);
  });
});

describe('checkpoint: signed bytes and signatures', () => {
  it('checkpoint: signs the documented nine-line text and verifies', () => {
    const c = cp(42);
    const text = checkpointSignedBytes(c).toString('utf8');
    expect(text).toBe(
      `syslog-ledger checkpoint v1\nledger_id ${ledgerId}\nchain host-a\nseq 42\ntree_size 42\n` +
        `head_hash ${c.head_hash}\nmerkle_root ${c.merkle_root}\ntime ${c.time}\nkey_id ${key.keyId}\n`,
    );
    const keys = keyMap([key]);
    expect(verifyCheckpointSignature(c, keys)).toBe('valid');
    expect(verifyCheckpointSignature({ ...c, seq: 43, tree_size: 43 }, keys)).toBe('bad_signature');
    expect(verifyCheckpointSignature({ ...c, merkle_root: c.head_hash }, keys)).toBe('bad_signature');
    expect(verifyCheckpointSignature(cp(1, other), keys)).toBe('unknown_key');
  });

  it('checkpoint: the JSON line round-trips with members in order', () => {
    const c = cp(7);
    const line = serializeCheckpoint(c);
    expect(Object.keys(JSON.parse(line) as object)).toEqual(['v', 'ledger_id', 'chain', 'seq', 'tree_size', 'head_hash', 'merkle_root', 'time', 'key_id', 'sig']);
    expect(parseCheckpoint(line)).toEqual(c);
    expect(() => parseCheckpoint({ ...c, extra: 1 })).toThrow(/unknown members/);
    expect(() => parseCheckpoint({ ...c, tree_size: 8 })).toThrow(/tree_size/);
    expect(() => parseCheckpoint({ ...c, chain: 'a\nb' })).toThrow(/control/);
  });
});

describe('checkpoint: the external file', () => {
  it('checkpoint file: appends lines and reads them back validated', async () => {
    const path = tmp.path('data/ok.jsonl');
    const f = await CheckpointFile.open(path);
    await f.append(cp(10));
    await f.append(cp(20));
    await f.append(cp(5, key, ledgerId, 'host-b'));
    await f.close();
    const seen: number[] = [];
    const r = await readCheckpointFile(path, { ledgerId, keys: [key], onCheckpoint: (c) => seen.push(c.seq) });
    expect(r.findings).toEqual([]);
    expect(seen).toEqual([10, 20, 5]);
    expect(r.latest.get('host-a')?.seq).toBe(20);
  });

  it('checkpoint file: a file from another ledger is refused, not misread', async () => {
    const path = tmp.path('data/foreign.jsonl');
    const f = await CheckpointFile.open(path);
    await f.append(cp(10, key, randomUUID()));
    await f.close();
    await expect(readCheckpointFile(path, { ledgerId, keys: [key] })).rejects.toBeInstanceOf(ForeignCheckpointFileError);
  });

  it('checkpoint file: going backwards, forks, bad signatures, unknown keys and garbage are findings', async () => {
    const path = tmp.path('data/bad.jsonl');
    const f = await CheckpointFile.open(path);
    await f.append(cp(100));
    await f.append(cp(50)); // backwards
    const fork = cp(100); // same seq, other hashes
    await f.append(fork);
    const forged = { ...cp(120), merkle_root: '00'.repeat(32) }; // changed after signing
    await f.append(forged);
    await f.append(cp(130, other)); // unknown key
    await f.append(cp(140, key, randomUUID())); // foreign line inside our file
    await f.close();
    await appendFile(path, 'not json\n');
    const r = await readCheckpointFile(path, { ledgerId, keys: [key] });
    expect(r.findings.map((x) => [x.kind, x.seq])).toEqual([
      ['checkpoint_backwards', 50],
      ['checkpoint_fork', 100],
      ['checkpoint_bad_signature', 120],
      ['checkpoint_unknown_key', 130],
      ['checkpoint_foreign_ledger', 140],
      ['checkpoint_malformed', null],
    ]);
    expect(r.latest.get('host-a')?.seq).toBe(100);
  });

  it('checkpoint file: a line torn by a crash is ended before the next append', async () => {
    const path = tmp.path('data/torn.jsonl');
    await writeFile(path, `${serializeCheckpoint(cp(1))}\n{"v":1,"ledger_id":"`);
    const f = await CheckpointFile.open(path);
    await f.append(cp(2));
    await f.close();
    const r = await readCheckpointFile(path, { ledgerId, keys: [key] });
    expect(r.valid).toBe(2);
    expect(r.findings.map((x) => x.kind)).toEqual(['checkpoint_malformed']);
  });
});
