/**
 * `syslog-ledger verify-evidence`: checks a package offline, with only the ledger's public key:
 * the manifest's signature, every file's digest, the checkpoints' signatures and their consistency,
 * every event's hash, the order and completeness of every run, and each run's proof.
 * Result: `intact` (exit 0), `tampered` with findings naming the event or file (1), or `unchecked`
 * with the reason it could not be checked (2).
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chainHash } from '../ledger/canonical.js';
import { parseCheckpoint, verifyCheckpointSignature, keyMap, type Checkpoint } from '../checkpoints/checkpoint.js';
import { MerkleAccumulator, frontierNodes, verifyConsistency } from '../checkpoints/merkle.js';
import type { VerifyingKey } from '../checkpoints/signing.js';
import { sha256File } from '../retention/files.js';
import { FILES, PACKAGE_TYPE, PACKAGE_VERSION, canonicalRowOfLine, v3LineHash, verifyManifestSignature, type CheckpointLink, type EvidenceLine, type Manifest, type RunProof } from './format.js';
import { MalformedDataError } from '../errors.js';

export interface EvidenceReport {
  readonly result: 'intact' | 'tampered' | 'unchecked';
  readonly findings: string[];
  readonly summary: string;
}

const HEX64 = /^[0-9a-f]{64}$/;
const hexes = (v: unknown): Buffer[] | undefined =>
  Array.isArray(v) && v.every((x) => typeof x === 'string' && HEX64.test(x)) ? v.map((x: string) => Buffer.from(x, 'hex')) : undefined;

async function readLines(path: string, each: (line: string, n: number) => void | Promise<void>): Promise<void> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of rl) {
      n++;
      await each(line, n);
    }
  } finally {
    rl.close();
    stream.destroy();
  }
}


export async function verifyEvidence(dir: string, key: VerifyingKey): Promise<EvidenceReport> {
  const unchecked = (why: string): EvidenceReport => ({ result: 'unchecked', findings: [why], summary: why });
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, FILES.manifest), 'utf8')) as Manifest;
  } catch (e) {
    return unchecked(`cannot read ${FILES.manifest}: ${(e as Error).message}`);
  }
  if (manifest?.type !== PACKAGE_TYPE || manifest.v !== PACKAGE_VERSION) return unchecked(`${FILES.manifest} is not a version ${PACKAGE_VERSION} evidence manifest (unknown format)`);
  if (typeof manifest.signature !== 'object' || manifest.signature === null || typeof manifest.signature.sig !== 'string') {
    return unchecked(`${FILES.manifest} carries no signature`);
  }
  if (manifest.signature.key_id !== key.keyId) {
    return unchecked(`${FILES.manifest} is signed by key ${String(manifest.signature.key_id)}, not by the trusted key given (${key.keyId}): no trusted key to check it with`);
  }
  for (const f of Object.keys(manifest.files ?? {})) {
    if (f.includes('/') || f.includes('\\') || f.startsWith('.')) return unchecked(`${FILES.manifest} names a file outside the package: ${f}`);
    try {
      await stat(join(dir, f));
    } catch {
      return unchecked(`${f} is missing from the package`);
    }
  }
  for (const f of [FILES.events, FILES.proofs, FILES.checkpoints, FILES.consistency]) {
    if (manifest.files?.[f] === undefined) return unchecked(`${FILES.manifest} lists no ${f}`);
  }

  const findings: string[] = [];
  if (!verifyManifestSignature(manifest, key)) findings.push(`${FILES.manifest}: the signature does not verify (the manifest was edited)`);
  for (const [f, want] of Object.entries(manifest.files)) {
    const got = await sha256File(join(dir, f));
    if (got.sha256 !== want.sha256 || got.bytes !== want.bytes) findings.push(`${f}: SHA-256 ${got.sha256} (${got.bytes} bytes) is not the manifest's ${want.sha256} (${want.bytes} bytes)`);
  }

  // Checkpoints: signed by the key, of this ledger.
  const keys = keyMap([key]);
  const checkpoints = new Map<string, Checkpoint>();
  const newest = new Map<string, Checkpoint>();
  await readLines(join(dir, FILES.checkpoints), (text, n) => {
    if (text.length === 0) return;
    let cp: Checkpoint;
    try {
      cp = parseCheckpoint(text);
    } catch (e) {
      findings.push(`${FILES.checkpoints}:${n}: ${(e as Error).message}`);
      return;
    }
    const s = verifyCheckpointSignature(cp, keys);
    if (s !== 'valid') findings.push(`${FILES.checkpoints}:${n}: chain "${cp.chain}" tree size ${cp.tree_size}: ${s === 'unknown_key' ? `signed by another key (${cp.key_id})` : 'the signature does not verify'}`);
    else if (cp.ledger_id !== manifest.ledger_id) findings.push(`${FILES.checkpoints}:${n}: a checkpoint of ledger ${cp.ledger_id}, not ${manifest.ledger_id}`);
    else {
      checkpoints.set(`${cp.chain}/${cp.tree_size}`, cp);
      const prev = newest.get(cp.chain);
      if (prev === undefined || cp.tree_size > prev.tree_size) newest.set(cp.chain, cp);
    }
  });
  // Each checkpoint is a prefix of its chain's newest.
  const linked = new Set<string>();
  await readLines(join(dir, FILES.consistency), (text, n) => {
    if (text.length === 0) return;
    let l: CheckpointLink;
    try {
      l = JSON.parse(text) as CheckpointLink;
    } catch {
      findings.push(`${FILES.consistency}:${n}: not JSON`);
      return;
    }
    const a = checkpoints.get(`${l.chain}/${l.from_tree_size}`);
    const b = checkpoints.get(`${l.chain}/${l.to_tree_size}`);
    const proof = hexes(l.proof);
    if (a === undefined || b === undefined || proof === undefined || b !== newest.get(l.chain)) {
      findings.push(`${FILES.consistency}:${n}: names checkpoints not in ${FILES.checkpoints}, or not the chain's newest`);
      return;
    }
    if (!verifyConsistency(a.tree_size, b.tree_size, Buffer.from(a.merkle_root, 'hex'), Buffer.from(b.merkle_root, 'hex'), proof)) {
      findings.push(`${FILES.consistency}:${n}: chain "${l.chain}": the checkpoint at ${a.tree_size} is not a prefix of the one at ${b.tree_size}`);
      return;
    }
    linked.add(`${l.chain}/${l.from_tree_size}`);
  });
  for (const [k, cp] of checkpoints) if (cp !== newest.get(cp.chain) && !linked.has(k)) findings.push(`${FILES.checkpoints}: chain "${cp.chain}" tree size ${cp.tree_size} has no consistency proof to the newest`);

  // Runs, in file order.
  const runs: RunProof[] = [];
  await readLines(join(dir, FILES.proofs), (text, n) => {
    if (text.length === 0) return;
    try {
      const r = JSON.parse(text) as RunProof;
      if (typeof r.chain !== 'string' || !Number.isSafeInteger(r.first_seq) || !Number.isSafeInteger(r.last_seq) || r.first_seq < 1 || r.last_seq < r.first_seq) throw new MalformedDataError('bad run');
      runs.push(r);
    } catch {
      findings.push(`${FILES.proofs}:${n}: not a run proof`);
    }
  });

  // Events: every line hashed, in the order the runs say, each run proven.
  let runIdx = 0;
  let cur: { run: RunProof; acc: MerkleAccumulator; next: number; prev: Buffer | null; ok: boolean } | undefined;
  let lines = 0;
  let matching = 0;
  const perChain = new Map<string, { lines: number; runs: number }>();
  const maxFindings = 1000;
  const find = (f: string): void => {
    if (findings.length < maxFindings) findings.push(f);
  };
  const startRun = (): void => {
    const run = runs[runIdx];
    cur = undefined;
    if (run === undefined) return;
    const acc = new MerkleAccumulator();
    let ok = true;
    const left = hexes(run.left);
    if (left === undefined || left.length !== frontierNodes(run.first_seq - 1).length) {
      find(`${FILES.proofs}: run chain "${run.chain}" seq ${run.first_seq}..${run.last_seq}: its left frontier is malformed`);
      ok = false;
    } else if (run.first_seq > 1) acc.restore({ size: run.first_seq - 1, frontier: left });
    cur = { run, acc, next: run.first_seq, prev: null, ok };
    const pc = perChain.get(run.chain) ?? { lines: 0, runs: 0 };
    pc.runs++;
    perChain.set(run.chain, pc);
  };
  const endRun = (): void => {
    if (cur === undefined) return;
    const { run, acc } = cur;
    const name = `run chain "${run.chain}" seq ${run.first_seq}..${run.last_seq}`;
    if (cur.next <= run.last_seq) find(`${FILES.events}: ${name}: seq ${cur.next}..${run.last_seq} missing (lines deleted)`);
    else if (cur.ok) {
      const cp = checkpoints.get(`${run.chain}/${run.tree_size}`);
      const proof = hexes(run.consistency);
      if (cp === undefined) find(`${FILES.proofs}: ${name}: its checkpoint (tree size ${run.tree_size}) is not a valid one of ${FILES.checkpoints}`);
      else if (proof === undefined || !verifyConsistency(run.last_seq, cp.tree_size, acc.root(), Buffer.from(cp.merkle_root, 'hex'), proof)) {
        find(`${FILES.proofs}: ${name}: the events do not lead to the root signed at tree size ${cp.tree_size} (an event changed, added, removed or reordered)`);
      }
    }
    runIdx++;
    startRun();
  };
  startRun();
  await readLines(join(dir, FILES.events), (text, n) => {
    if (text.length === 0) {
      find(`${FILES.events}:${n}: empty line`);
      return;
    }
    lines++;
    let line: EvidenceLine;
    try {
      line = JSON.parse(text) as EvidenceLine;
    } catch {
      find(`${FILES.events}:${n}: not JSON`);
      if (cur) cur.ok = false;
      return;
    }
    const where = `${FILES.events}:${n} (chain ${JSON.stringify(line.chain)} seq ${String(line.seq)})`;
    if (line.in_range !== false) matching++;
    if (cur === undefined) {
      find(`${where}: not covered by any run of ${FILES.proofs} (a line added)`);
      return;
    }
    if (line.chain !== cur.run.chain || line.seq !== cur.next) {
      if (line.chain === cur.run.chain && typeof line.seq === 'number' && line.seq > cur.next && line.seq <= cur.run.last_seq) {
        find(`${where}: expected seq ${cur.next} (lines deleted or reordered)`);
      } else {
        find(`${where}: expected chain ${JSON.stringify(cur.run.chain)} seq ${cur.next} (a line added, removed or reordered)`);
      }
      cur.ok = false;
    }
    const row = line.leaf?.v === 3 ? v3LineHash(line) : canonicalRowOfLine(line);
    if (typeof row === 'string') {
      find(`${where}: ${row}`);
      cur.ok = false;
    } else {
      const hash = Buffer.isBuffer(row) ? row : chainHash(Buffer.from(line.leaf.prev_hash, 'hex'), row);
      if (hash.toString('hex') !== line.leaf.hash) {
        find(`${where}: the event does not hash to its leaf hash (changed)`);
        cur.ok = false;
      }
      if (cur.prev !== null && line.leaf.prev_hash !== cur.prev.toString('hex')) {
        find(`${where}: prev_hash is not the previous line's hash (a line removed, added or reordered)`);
        cur.ok = false;
      }
      cur.prev = hash;
      if (HEX64.test(line.leaf.hash)) cur.acc.append(Buffer.from(line.leaf.hash, 'hex'));
    }
    const pc = perChain.get(cur.run.chain)!;
    pc.lines++;
    cur.next = (typeof line.seq === 'number' ? line.seq : cur.next) + 1;
    if (cur.next > cur.run.last_seq) endRun();
  });
  while (cur !== undefined) endRun();

  if (lines !== manifest.counts?.lines) find(`${FILES.events}: ${lines} lines; the manifest says ${String(manifest.counts?.lines)}`);
  if (matching !== manifest.counts?.matching) find(`${FILES.events}: ${matching} lines in range; the manifest counts ${String(manifest.counts?.matching)} matching rows`);
  if (runs.length !== manifest.counts?.runs) find(`${FILES.proofs}: ${runs.length} runs; the manifest says ${String(manifest.counts?.runs)}`);
  if (manifest.mode === 'complete') {
    for (const [chain, pc] of perChain) if (pc.runs !== 1) find(`${FILES.proofs}: a complete export has one run per chain; chain "${chain}" has ${pc.runs}`);
  }
  if (findings.length > 0) return { result: 'tampered', findings, summary: `${findings.length} problem(s) found` };
  const chains = [...perChain].map(([c, pc]) => `${c}: ${pc.lines}`).join(', ');
  return {
    result: 'intact',
    findings: [],
    summary:
      `${manifest.mode} export of ledger ${manifest.ledger_id}: ${lines} events (${matching} matching \`${manifest.query?.predicate}\`) in ${runs.length} run(s) [${chains}], ` +
      `every event unchanged and proven against checkpoints signed by key ${key.keyId}; manifest signed ${manifest.created_at}` +
      (manifest.mode === 'complete' ? '; complete: no seq missing in any chain\'s span' : ''),
  };
}
