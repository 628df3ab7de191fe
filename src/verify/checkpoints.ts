/**
 * The checkpoint half of `syslog-ledger verify`: the row streamer calls feed() for every row, in
 * seq order per chain; this recomputes each chain's Merkle tree on the way and, at every seq that a
 * signed checkpoint in the external file names, compares the row hash and the Merkle root with the
 * signed ones. finish() then reports rows the checkpoints vouch for but the ledger no longer has.
 *
 * What it detects (each finding names chain and seq; kinds in checkpoint.ts):
 *   - truncation (deleted tail or whole chain): `truncated`
 *   - a chain recomputed without the signing key, or any changed/missing/inserted row under a
 *     checkpoint: `checkpoint_head_mismatch`, `checkpoint_root_mismatch`
 *   - a checkpoint file going backwards, forked, foreign or badly signed: `checkpoint_*`
 *
 * Cost per row: one leaf hash and, amortized, one node hash (~1.1 µs; see docs/integrity.md);
 * one root (O(log n) hashes) per checkpoint. Memory: 72 bytes per checkpoint of the chains checked.
 */
import type { FrontierSnapshot } from '../checkpoints/merkle.js';
import { MerkleAccumulator } from '../checkpoints/merkle.js';
import type { Checkpoint, IntegrityFinding, IntegrityFindingKind } from '../checkpoints/checkpoint.js';
import { readCheckpointFile } from '../checkpoints/file.js';
import type { VerifyingKey } from '../checkpoints/signing.js';

/** Defaults shared with serve: `verify --checkpoints` and `--public-key`. */
export const DEFAULT_CHECKPOINT_FILE = './data/checkpoints.jsonl';
export const DEFAULT_PUBLIC_KEY_FILE = './certs/ledger-signing.key.pub';

export interface CheckpointVerifierOptions {
  /** ledger_meta.ledger_id of the database being verified. */
  readonly ledgerId: string;
  /** Accepted signing keys (`--public-key`, repeatable for rotated keys). */
  readonly keys: readonly VerifyingKey[];
  /** Checkpoint files (`--checkpoints`, repeatable: one per server host). */
  readonly files: readonly string[];
  /** Only this chain is being verified (`verify --chain`); other chains' checkpoints are validated but not compared. */
  readonly chain?: string;
  /**
   * Recompute Merkle roots (default true). Without them only head hashes are compared: still sound
   * for tamper detection when the row checks pass (a verified hash chain commits to its whole
   * prefix), but it no longer proves the signed roots that inclusion proofs rely on. Saves ~2 SHA-256
   * per row.
   */
  readonly merkleRoots?: boolean;
  /**
   * `verify --from SEQ`: every chain's rows start at this seq. Roots are then compared only for
   * chains given a frontier with startChain(); the others get head-hash comparisons.
   */
  readonly fromSeq?: number;
}

/** The coarser finding kinds of src/verify/verify.ts (FINDING_KINDS), for callers that keep those. */
export function toVerifyKind(kind: IntegrityFindingKind): 'checkpoint_mismatch' | 'checkpoint_signature' | 'checkpoint_truncation' | 'checkpoint_file' {
  switch (kind) {
    case 'checkpoint_head_mismatch':
    case 'checkpoint_root_mismatch':
      return 'checkpoint_mismatch';
    case 'checkpoint_bad_signature':
    case 'checkpoint_unknown_key':
      return 'checkpoint_signature';
    case 'truncated':
      return 'checkpoint_truncation';
    default:
      return 'checkpoint_file';
  }
}

/** A chain's signed checkpoints, sorted by seq, compactly: seq, then head hash || Merkle root. */
class ChainCheckpoints {
  seqs: number[] = [];
  hashes = Buffer.alloc(64 * 16);
  /** Signing time of the latest checkpoint, for messages. */
  lastTime = '';

  add(c: Checkpoint): void {
    const i = this.seqs.length;
    if ((i + 1) * 64 > this.hashes.length) {
      const bigger = Buffer.alloc(this.hashes.length * 2);
      this.hashes.copy(bigger);
      this.hashes = bigger;
    }
    this.hashes.write(c.head_hash, i * 64, 'hex');
    this.hashes.write(c.merkle_root, i * 64 + 32, 'hex');
    this.seqs.push(c.seq);
    this.lastTime = c.time;
  }

  head(i: number): Buffer {
    return this.hashes.subarray(i * 64, i * 64 + 32);
  }

  root(i: number): Buffer {
    return this.hashes.subarray(i * 64 + 32, i * 64 + 64);
  }
}

interface ChainRun {
  readonly chain: string;
  readonly cps: ChainCheckpoints | undefined;
  acc: MerkleAccumulator;
  /** Index of the next checkpoint to compare. */
  next: number;
  /** Seq of the next checkpoint, Infinity when none. */
  nextSeq: number;
  lastSeq: number;
  /** Roots are no longer comparable: rows missing (gapAt = first missing seq) or started mid-chain without a frontier. */
  gapAt: number | undefined;
  noRoots: boolean;
  gapReported: boolean;
  checked: number;
}

/** Counts for the summary line. */
export interface CheckpointVerifySummary {
  checkpointsRead: number;
  checkpointsCompared: number;
  /** Per chain: rows after the last checkpoint (not yet signed when the file was copied). */
  unsignedTail: Record<string, number>;
}

export class CheckpointVerifier {
  readonly #opts: CheckpointVerifierOptions;
  readonly #cps = new Map<string, ChainCheckpoints>();
  readonly #runs = new Map<string, ChainRun>();
  readonly #findings: IntegrityFinding[] = [];
  #cur: ChainRun | undefined;
  #read = 0;
  #finished = false;

  private constructor(opts: CheckpointVerifierOptions) {
    this.#opts = opts;
  }

  /**
   * Reads and validates the checkpoint files. Throws ForeignCheckpointFileError (a VerifyError:
   * exit 2) for another ledger's file, VerifyError when a file cannot be read.
   */
  static async load(opts: CheckpointVerifierOptions): Promise<CheckpointVerifier> {
    const v = new CheckpointVerifier(opts);
    const perFile: Array<Map<string, Checkpoint[]>> = [];
    for (const file of opts.files) {
      const byChain = new Map<string, Checkpoint[]>();
      const report = await readCheckpointFile(file, {
        ledgerId: opts.ledgerId,
        keys: opts.keys,
        onCheckpoint: (c) => {
          v.#read += 1;
          if (opts.chain !== undefined && c.chain !== opts.chain) return;
          let list = byChain.get(c.chain);
          if (list === undefined) byChain.set(c.chain, (list = []));
          list.push(c);
        },
      });
      v.#findings.push(...report.findings.filter((f) => opts.chain === undefined || f.chain === opts.chain || f.chain === ''));
      perFile.push(byChain);
    }
    v.#merge(perFile);
    return v;
  }

  /** One file's lists are already in increasing seq order; several files are merged, duplicates checked. */
  #merge(perFile: Array<Map<string, Checkpoint[]>>): void {
    const chains = new Set(perFile.flatMap((m) => [...m.keys()]));
    for (const chain of chains) {
      const lists = perFile.map((m) => m.get(chain)).filter((l): l is Checkpoint[] => l !== undefined);
      const all = lists.length === 1 ? (lists[0] as Checkpoint[]) : lists.flat().sort((a, b) => a.seq - b.seq);
      const cps = new ChainCheckpoints();
      let prev: Checkpoint | undefined;
      for (const c of all) {
        if (prev !== undefined && c.seq === prev.seq) {
          if (c.head_hash !== prev.head_hash || c.merkle_root !== prev.merkle_root) {
            this.#findings.push({ chain, seq: c.seq, kind: 'checkpoint_fork', detail: `two signed checkpoints at seq ${c.seq} disagree (in different files)` });
          }
          continue;
        }
        cps.add(c);
        prev = c;
      }
      this.#cps.set(chain, cps);
    }
  }

  /** Chains that have checkpoints (in scope). */
  get chains(): string[] {
    return [...this.#cps.keys()];
  }

  /** Latest checkpointed seq of a chain, 0 when none. */
  latestSeq(chain: string): number {
    const cps = this.#cps.get(chain);
    return cps?.seqs[cps.seqs.length - 1] ?? 0;
  }

  /**
   * For `verify --from SEQ`: the chain's rows start at `fromSeq`. Without a frontier (the tree of
   * rows 1..fromSeq-1, e.g. loadFrontier() from merkle-store.ts) only head hashes are compared.
   */
  startChain(chain: string, fromSeq: number, frontier?: FrontierSnapshot): void {
    const run = this.#run(chain);
    if (frontier !== undefined) {
      if (frontier.size !== fromSeq - 1) throw new RangeError(`frontier of size ${frontier.size} does not end before seq ${fromSeq}`);
      run.acc.restore(frontier);
      run.noRoots = this.#opts.merkleRoots === false;
    } else if (fromSeq > 1) {
      run.noRoots = true;
    }
    run.lastSeq = fromSeq - 1;
    this.#skipTo(run, fromSeq);
  }

  #run(chain: string): ChainRun {
    let run = this.#runs.get(chain);
    if (run === undefined) {
      const cps = this.#cps.get(chain);
      run = {
        chain,
        cps,
        acc: new MerkleAccumulator(),
        next: 0,
        nextSeq: cps?.seqs[0] ?? Infinity,
        lastSeq: 0,
        gapAt: undefined,
        noRoots: this.#opts.merkleRoots === false,
        gapReported: false,
        checked: 0,
      };
      this.#runs.set(chain, run);
      const from = this.#opts.fromSeq ?? 1;
      if (from > 1) {
        run.noRoots = true;
        run.lastSeq = from - 1;
        this.#skipTo(run, from);
      }
    }
    return run;
  }

  #skipTo(run: ChainRun, seq: number): void {
    const seqs = run.cps?.seqs;
    if (seqs === undefined) return;
    while (run.nextSeq < seq) {
      run.next += 1;
      run.nextSeq = seqs[run.next] ?? Infinity;
    }
  }

  /** One row, in seq order within its chain (chains may interleave). Hot path: keep it lean. */
  feed(chain: string, seq: bigint | number, hash: Buffer): void {
    let run = this.#cur;
    if (run === undefined || run.chain !== chain) {
      run = this.#run(chain);
      this.#cur = run;
    }
    const s = typeof seq === 'number' ? seq : Number(seq);
    if (s !== run.lastSeq + 1) this.#discontinuity(run, s);
    else if (run.gapAt === undefined && !run.noRoots) run.acc.append(hash);
    run.lastSeq = s;
    if (s === run.nextSeq) this.#compare(run, s, hash);
  }

  #discontinuity(run: ChainRun, s: number): void {
    // Rows missing (or out of order): the tree cannot be rebuilt past here. The row checks name the
    // rows; here, the next checkpoint's root is reported once as not reproducible.
    if (run.gapAt === undefined) run.gapAt = Math.min(run.lastSeq + 1, s);
    for (; run.nextSeq < s; ) {
      const i = run.next;
      this.#findings.push({
        chain: run.chain,
        seq: run.nextSeq,
        kind: 'checkpoint_head_mismatch',
        detail: `row ${run.nextSeq} named by a signed checkpoint is missing`,
      });
      run.next = i + 1;
      run.nextSeq = run.cps?.seqs[run.next] ?? Infinity;
    }
  }

  #compare(run: ChainRun, s: number, hash: Buffer): void {
    const cps = run.cps as ChainCheckpoints;
    const i = run.next;
    run.checked += 1;
    if (!hash.equals(cps.head(i))) {
      this.#findings.push({
        chain: run.chain,
        seq: s,
        kind: 'checkpoint_head_mismatch',
        detail: `row ${s} has hash ${hash.toString('hex')}, the signed checkpoint says ${cps.head(i).toString('hex')}`,
      });
    }
    if (run.noRoots) {
      // Head hashes only (started mid-chain without a frontier, or merkleRoots: false).
    } else if (run.gapAt !== undefined) {
      if (!run.gapReported) {
        run.gapReported = true;
        this.#findings.push({
          chain: run.chain,
          seq: s,
          kind: 'checkpoint_root_mismatch',
          detail: `rows missing from seq ${run.gapAt}: the ledger cannot reproduce the signed Merkle root at seq ${s}`,
        });
      }
    } else {
      const root = run.acc.root();
      if (!root.equals(cps.root(i))) {
        this.#findings.push({
          chain: run.chain,
          seq: s,
          kind: 'checkpoint_root_mismatch',
          detail: `Merkle root of rows 1..${s} is ${root.toString('hex')}, the signed checkpoint says ${cps.root(i).toString('hex')}`,
        });
      }
    }
    run.next = i + 1;
    run.nextSeq = cps.seqs[run.next] ?? Infinity;
  }

  /** After the last row: truncation per chain. Returns every finding (files, rows, truncation). */
  finish(): IntegrityFinding[] {
    if (this.#finished) return this.#findings;
    this.#finished = true;
    for (const [chain, cps] of this.#cps) {
      const run = this.#run(chain);
      const latest = cps.seqs[cps.seqs.length - 1] ?? 0;
      if (latest > run.lastSeq) {
        const time = cps.lastTime;
        this.#findings.push({
          chain,
          seq: run.lastSeq + 1,
          kind: 'truncated',
          detail:
            `the ledger ends at seq ${run.lastSeq} but a signed checkpoint${time ? ` (${time})` : ''} vouches for rows up to seq ${latest}: ` +
            `${latest - run.lastSeq} rows deleted`,
        });
      }
    }
    return this.#findings;
  }

  /** Findings so far (all of them after finish()). */
  get findings(): readonly IntegrityFinding[] {
    return this.#findings;
  }

  summary(): CheckpointVerifySummary {
    const unsignedTail: Record<string, number> = {};
    let compared = 0;
    for (const run of this.#runs.values()) {
      compared += run.checked;
      const latest = run.cps?.seqs[run.cps.seqs.length - 1] ?? 0;
      if (run.lastSeq > latest) unsignedTail[run.chain] = run.lastSeq - latest;
    }
    return { checkpointsRead: this.#read, checkpointsCompared: compared, unsignedTail };
  }
}
