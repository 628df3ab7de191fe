/**
 * Verification that runs by itself inside `serve` (docs/integrity.md "Incremental verification"):
 * every --verify-interval, the rows of serve's chain committed since the last verification are
 * recomputed (the real verify code, in one snapshot), linked to the last row verified, appended to
 * the chain's Merkle tree, and compared with every signed checkpoint among them (signature checked
 * with the key's public half). The first run, one interval after start, verifies the chain from its
 * start (or its retention boundary).
 *
 * Each result is a ledger record (format `internal`, OCSF 1008 Event Log Activity, activity Other
 * "Verify", msgid `verify.incremental`, details under `unmapped.verify`: what the `integrity_status`
 * view reads) and metrics (syslog_ledger_verify_*). A failure is reported, alerted on and retried at
 * the next interval; it never stops serve. After a failure the last verified position stays where
 * it was, so every later run fails too until someone looks.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import pg from 'pg';
import { describeError } from '../errors.js';
import { keyMap, parseCheckpoint, verifyCheckpointSignature, type Checkpoint } from '../checkpoints/checkpoint.js';
import { internalRecord } from '../ledger/internal-record.js';
import { MerkleAccumulator } from '../checkpoints/merkle.js';
import type { VerifyingKey } from '../checkpoints/signing.js';
import type { LedgerRecord } from '../ledger/types.js';
import { verifyLedger } from './verify.js';
import type { Metrics } from '../metrics/registry.js';
import { OCSF_VERSION } from '../normalize/ocsf.js';
import type { OcsfEvent } from '../normalize/types.js';
import { retentionBoundaries } from '../retention/boundaries.js';

export const VERIFY_FAILURE_REASONS = ['tampered', 'checkpoint', 'error'] as const;
export type VerifyFailureReason = (typeof VERIFY_FAILURE_REASONS)[number];

export interface IncrementalVerifyOptions {
  readonly databaseUrl: string;
  readonly chain: string;
  /** The public half of serve's signing key: checkpoints are compared only when it signed them. */
  readonly key: VerifyingKey;
  readonly intervalMs: number;
  /** Delay of the first run after start (default: one interval). */
  readonly firstDelayMs?: number;
  readonly metrics: Metrics;
  readonly log?: Logger;
  /** Where the result records go (the writer). */
  readonly enqueue: (record: LedgerRecord) => void;
  readonly now?: () => number;
}

export interface VerifyOutcome {
  readonly ok: boolean;
  readonly reason: VerifyFailureReason | null;
  readonly detail: string;
  readonly fromSeq: number;
  readonly toSeq: number;
  readonly rows: number;
  readonly checkpoints: number;
}

interface Verified {
  seq: number;
  hash: Buffer;
  acc: MerkleAccumulator;
}

export class IncrementalVerifier {
  readonly #o: IncrementalVerifyOptions;
  #state: Verified | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<VerifyOutcome> | undefined;
  #stopped = false;

  constructor(o: IncrementalVerifyOptions) {
    this.#o = o;
  }

  start(): void {
    this.#schedule(this.#o.firstDelayMs ?? this.#o.intervalMs);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running?.catch(() => {});
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.runOnce().finally(() => this.#schedule(this.#o.intervalMs));
    }, ms);
    this.#timer.unref();
  }

  /** One verification; never rejects. */
  runOnce(): Promise<VerifyOutcome> {
    this.#running ??= this.#run().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #run(): Promise<VerifyOutcome> {
    const { chain, metrics } = this.#o;
    const now = this.#o.now ?? Date.now;
    const prev = this.#state;
    let outcome: VerifyOutcome;
    try {
      outcome = await this.#verify(prev);
    } catch (err) {
      outcome = { ok: false, reason: 'error', detail: `could not verify: ${describeError(err)}`, fromSeq: (prev?.seq ?? 0) + 1, toSeq: prev?.seq ?? 0, rows: 0, checkpoints: 0 };
    }
    metrics.verifyRows.inc({ chain }, outcome.rows);
    metrics.verifyOk.set({ chain }, outcome.ok ? 1 : 0);
    if (outcome.ok) metrics.verifyLastSuccess.set({ chain }, now() / 1000);
    else metrics.verifyFailures.inc({ chain, reason: outcome.reason ?? 'error' });
    if (outcome.ok) this.#o.log?.info({ chain, fromSeq: outcome.fromSeq, toSeq: outcome.toSeq, rows: outcome.rows, checkpoints: outcome.checkpoints }, 'incremental verification: intact');
    else this.#o.log?.error({ chain, reason: outcome.reason, detail: outcome.detail, fromSeq: outcome.fromSeq }, 'incremental verification FAILED');
    try {
      if (!this.#stopped) this.#o.enqueue(internalRecord(verifyEvent(chain, outcome, now()), { receivedAtUs: now() * 1000, hostname: hostname(), msgid: 'verify.incremental' }));
    } catch (err) {
      this.#o.log?.error({ err: describeError(err) }, 'incremental verification: the result record could not be queued');
    }
    return outcome;
  }

  async #verify(prev: Verified | undefined): Promise<VerifyOutcome> {
    const { chain } = this.#o;
    const keys = keyMap([this.#o.key]);
    const acc = new MerkleAccumulator();
    let startSeq = 1;
    const checkpoints = new Map<number, Checkpoint>();
    const client = new pg.Client({ connectionString: this.#o.databaseUrl, application_name: 'syslog-ledger incremental verify' });
    // A backend that dies between queries emits 'error' on the client: unheard, it would end serve.
    client.on('error', (err) => this.#o.log?.warn({ err: err.message }, 'incremental verify: connection lost'));
    await client.connect();
    try {
      if (prev !== undefined) {
        acc.restore(prev.acc.snapshot());
        startSeq = prev.seq;
      } else {
        const b = (await retentionBoundaries(client)).get(chain);
        if (b !== undefined) acc.restore(b.frontier);
      }
      const res = await client.query<{ record: unknown }>('SELECT record FROM checkpoints WHERE chain = $1 AND seq >= $2 ORDER BY seq', [chain, startSeq]);
      for (const r of res.rows) {
        try {
          const cp = parseCheckpoint(r.record);
          if (verifyCheckpointSignature(cp, keys) === 'valid') checkpoints.set(cp.seq, cp);
        } catch {
          // a malformed stored checkpoint is `verify`'s business (it does not trust the table)
        }
      }
    } finally {
      await client.end().catch(() => {});
    }

    const problems: string[] = [];
    let compared = 0;
    let last: { seq: number; hash: Buffer } | undefined;
    const report = await verifyLedger(this.#o.databaseUrl, {
      chain,
      ...(prev !== undefined ? { fromSeq: prev.seq } : {}),
      // One worker thread: row hashing stays off serve's event loop (only the Merkle appends run here).
      workers: 1,
      maxFindings: 20,
      onRow: (_c, seq, hash) => {
        if (prev !== undefined && seq === prev.seq) {
          if (!hash.equals(prev.hash)) problems.push(`row ${seq} no longer has the hash it had when it was last verified`);
          return;
        }
        acc.append(hash);
        last = { seq, hash: Buffer.from(hash) };
        const cp = checkpoints.get(seq);
        if (cp !== undefined) {
          compared++;
          if (cp.head_hash !== hash.toString('hex') || cp.merkle_root !== acc.root().toString('hex')) problems.push(`the checkpoint signed at seq ${seq} does not match the rows`);
        }
      },
    });
    const fromSeq = prev === undefined ? 1 : prev.seq + 1;
    const toSeq = last?.seq ?? prev?.seq ?? 0;
    const rows = prev === undefined ? report.rows : Math.max(0, report.rows - 1);
    if (report.findingCount > 0) {
      const f = report.findings[0];
      return { ok: false, reason: 'tampered', detail: `${report.findingCount} finding(s); first: ${f ? `${f.kind} at seq ${f.seq}: ${f.detail}` : '?'}`, fromSeq, toSeq, rows, checkpoints: compared };
    }
    if (problems.length > 0) return { ok: false, reason: 'checkpoint', detail: problems.slice(0, 3).join('; '), fromSeq, toSeq, rows, checkpoints: compared };
    if (last !== undefined) this.#state = { seq: last.seq, hash: last.hash, acc };
    return { ok: true, reason: null, detail: `rows ${fromSeq}..${toSeq} intact`, fromSeq, toSeq, rows, checkpoints: compared };
  }
}

/** The ledger record of one verification. */
export function verifyEvent(chain: string, o: VerifyOutcome, nowMs: number): OcsfEvent {
  return {
    class_uid: 1008,
    class_name: 'Event Log Activity',
    category_uid: 1,
    category_name: 'System Activity',
    activity_id: 99,
    activity_name: 'Verify',
    type_uid: 100899,
    severity_id: o.ok ? 1 : 5,
    severity: o.ok ? 'Informational' : 'Critical',
    status_id: o.ok ? 1 : 2,
    status: o.ok ? 'Success' : 'Failure',
    time: nowMs,
    time_dt: new Date(nowMs).toISOString(),
    message: o.ok
      ? `chain "${chain}" verified: rows ${o.fromSeq}..${o.toSeq} intact (${o.rows} rows, ${o.checkpoints} signed checkpoints compared)`
      : `chain "${chain}" verification FAILED (${o.reason}): ${o.detail}`,
    device: { hostname: hostname() },
    metadata: { version: OCSF_VERSION, product: { name: 'syslog-ledger', vendor_name: 'syslog-ledger' }, log_provider: 'syslog-ledger' },
    unmapped: {
      verify: { chain, result: o.ok ? 'intact' : 'failed', reason: o.reason, detail: o.detail, from_seq: o.fromSeq, to_seq: o.toSeq, rows: o.rows, checkpoints: o.checkpoints },
    },
  };
}
