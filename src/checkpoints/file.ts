/**
 * The external checkpoint file (docs/integrity.md, "Where checkpoints go"): JSON lines, appended and
 * fdatasync'ed by serve; read back, streamed and validated, by verify; its tail read by serve at start.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { type CheckpointFormatError, VerifyError } from '../errors.js';
import {
  ForeignCheckpointFileError,
  keyMap,
  parseCheckpoint,
  serializeCheckpoint,
  verifyCheckpointSignature,
  type Checkpoint,
  type IntegrityFinding,
} from './checkpoint.js';
import type { VerifyingKey } from './signing.js';

/**
 * The external checkpoint file: JSON lines, opened for append, each append written in one write()
 * and fdatasync'ed before it resolves. Appends are serialized.
 */
export class CheckpointFile {
  readonly path: string;
  readonly #fh: FileHandle;
  #tail: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(path: string, fh: FileHandle) {
    this.path = path;
    this.#fh = fh;
  }

  /** Opens (creating it and its folder when absent) for appending. */
  static async open(path: string): Promise<CheckpointFile> {
    await mkdir(dirname(path), { recursive: true });
    let created = false;
    let size = 0;
    try {
      size = (await stat(path)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      created = true;
    }
    const fh = await open(path, 'a', 0o644);
    const file = new CheckpointFile(path, fh);
    if (created) {
      // Make the new directory entry durable too.
      const dir = await open(dirname(path), 'r');
      await dir.sync().finally(() => dir.close());
    } else if (size > 0) {
      // A crash during an append can leave a line without its LF: end it, so the next line stays readable.
      const last = Buffer.alloc(1);
      const rh = await open(path, 'r');
      await rh.read(last, 0, 1, size - 1).finally(() => rh.close());
      if (last[0] !== 0x0a) {
        await fh.write('\n');
        await fh.datasync();
      }
    }
    return file;
  }

  /** Appends one checkpoint and waits until it is on disk. */
  append(c: Checkpoint): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`${this.path} is closed`));
    const line = `${serializeCheckpoint(c)}\n`;
    const run = this.#tail.then(async () => {
      await this.#fh.write(line);
      await this.#fh.datasync();
    });
    this.#tail = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail;
    await this.#fh.close();
  }
}

/** Options for reading a checkpoint file. */
export interface ReadCheckpointsOptions {
  /** This ledger's id: a file whose first checkpoint names another ledger is refused. */
  readonly ledgerId: string;
  /** Keys whose signatures are accepted. */
  readonly keys: readonly VerifyingKey[];
  /** Called for each valid checkpoint (signed by a known key, this ledger, not going backwards), in file order. */
  readonly onCheckpoint?: (c: Checkpoint, line: number) => void;
}

/** What reading a checkpoint file found. */
export interface CheckpointFileReport {
  readonly file: string;
  lines: number;
  valid: number;
  /** Latest valid checkpoint per chain. */
  readonly latest: Map<string, Checkpoint>;
  readonly findings: IntegrityFinding[];
}

/**
 * Validates a checkpoint file line by line (streamed: memory is per chain, not per line):
 * shape, ledger id, known key, signature, and per chain never going backwards. Throws
 * ForeignCheckpointFileError when the first checkpoint is another ledger's, VerifyError when the
 * file cannot be read.
 */
export async function readCheckpointFile(path: string, opts: ReadCheckpointsOptions): Promise<CheckpointFileReport> {
  const report: CheckpointFileReport = { file: path, lines: 0, valid: 0, latest: new Map(), findings: [] };
  const checker = new CheckpointSequenceChecker(opts, path, report);
  let stream;
  try {
    await stat(path);
    stream = createReadStream(path, { encoding: 'utf8' });
  } catch (cause) {
    throw new VerifyError(`cannot read checkpoint file ${path}: ${(cause as Error).message}`, { cause });
  }
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of rl) {
      report.lines += 1;
      if (line.length === 0) continue;
      checker.line(line, report.lines);
    }
  } catch (cause) {
    if (cause instanceof VerifyError) throw cause;
    throw new VerifyError(`cannot read checkpoint file ${path}: ${(cause as Error).message}`, { cause });
  } finally {
    rl.close();
    stream.destroy();
  }
  return report;
}

/** Validates checkpoints one at a time, in order (a file's lines, or the database table's rows). */
export class CheckpointSequenceChecker {
  readonly #opts: ReadCheckpointsOptions;
  readonly #keys: Map<string, VerifyingKey>;
  readonly #source: string;
  readonly #report: CheckpointFileReport;
  #first = true;

  constructor(opts: ReadCheckpointsOptions, source: string, report: CheckpointFileReport) {
    this.#opts = opts;
    this.#keys = keyMap(opts.keys);
    this.#source = source;
    this.#report = report;
  }

  /** One line of JSON (line numbers are for messages). */
  line(text: string, lineNo: number): void {
    const where = `${this.#source}:${lineNo}`;
    let c: Checkpoint;
    try {
      c = parseCheckpoint(text);
    } catch (err) {
      const e = err as CheckpointFormatError;
      // A checkpoint of another ledger is checked before its shape: the first one refuses the file.
      this.#checkLedger(text, where);
      this.#find({ chain: e.chain ?? '', seq: e.seq, kind: 'checkpoint_malformed', detail: `${where}: ${e.message}` });
      return;
    }
    this.checkpoint(c, where, lineNo);
  }

  #checkLedger(text: string, where: string): void {
    let id: unknown;
    try {
      id = (JSON.parse(text) as { ledger_id?: unknown }).ledger_id;
    } catch {
      return;
    }
    if (typeof id === 'string' && id !== this.#opts.ledgerId && this.#first) {
      throw new ForeignCheckpointFileError(where, id, this.#opts.ledgerId);
    }
  }

  checkpoint(c: Checkpoint, where: string, lineNo: number): void {
    if (c.ledger_id !== this.#opts.ledgerId) {
      if (this.#first) throw new ForeignCheckpointFileError(this.#source, c.ledger_id, this.#opts.ledgerId);
      this.#find({ chain: c.chain, seq: c.seq, kind: 'checkpoint_foreign_ledger', detail: `${where}: checkpoint of ledger ${c.ledger_id}` });
      return;
    }
    this.#first = false;
    const sig = verifyCheckpointSignature(c, this.#keys);
    if (sig === 'unknown_key') {
      this.#find({ chain: c.chain, seq: c.seq, kind: 'checkpoint_unknown_key', detail: `${where}: signed by unknown key ${c.key_id}` });
      return;
    }
    if (sig === 'bad_signature') {
      this.#find({ chain: c.chain, seq: c.seq, kind: 'checkpoint_bad_signature', detail: `${where}: Ed25519 signature does not verify` });
      return;
    }
    const prev = this.#report.latest.get(c.chain);
    if (prev !== undefined) {
      if (c.seq < prev.seq) {
        this.#find({ chain: c.chain, seq: c.seq, kind: 'checkpoint_backwards', detail: `${where}: seq ${c.seq} after a checkpoint at seq ${prev.seq}` });
        return;
      }
      if (c.seq === prev.seq) {
        if (c.head_hash !== prev.head_hash || c.merkle_root !== prev.merkle_root) {
          this.#find({ chain: c.chain, seq: c.seq, kind: 'checkpoint_fork', detail: `${where}: two signed checkpoints at seq ${c.seq} disagree` });
        }
        return;
      }
    }
    this.#report.latest.set(c.chain, c);
    this.#report.valid += 1;
    this.#opts.onCheckpoint?.(c, lineNo);
  }

  #find(f: IntegrityFinding): void {
    this.#report.findings.push(f);
  }
}

/**
 * Cheap look at a checkpoint file for serve's start: the ledger id of its first line and the last
 * checkpoint per chain within its final 256 KiB (shape-checked only; signatures are the caller's).
 * A missing file gives nothing.
 */
export async function readTailCheckpoints(path: string): Promise<{ firstLedgerId: string | undefined; latest: Map<string, Checkpoint> }> {
  const latest = new Map<string, Checkpoint>();
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { firstLedgerId: undefined, latest };
    throw err;
  }
  try {
    const size = (await fh.stat()).size;
    const headBuf = Buffer.alloc(Math.min(size, 64 * 1024));
    await fh.read(headBuf, 0, headBuf.length, 0);
    let firstLedgerId: string | undefined;
    const firstLine = headBuf.toString('utf8').split('\n').find((l) => l.trim().length > 0);
    if (firstLine !== undefined) {
      try {
        const id = (JSON.parse(firstLine) as { ledger_id?: unknown }).ledger_id;
        if (typeof id === 'string') firstLedgerId = id;
      } catch {
        // Not JSON: the first line tells nothing; verify reports it.
      }
    }
    const start = Math.max(0, size - 256 * 1024);
    const tailBuf = Buffer.alloc(size - start);
    await fh.read(tailBuf, 0, tailBuf.length, start);
    const lines = tailBuf.toString('utf8').split('\n');
    if (start > 0) lines.shift();
    for (const line of lines) {
      if (line.length === 0) continue;
      try {
        const c = parseCheckpoint(line);
        const prev = latest.get(c.chain);
        if (prev === undefined || c.seq >= prev.seq) latest.set(c.chain, c);
      } catch {
        // Malformed lines are verify's business.
      }
    }
    return { firstLedgerId, latest };
  } finally {
    await fh.close();
  }
}
