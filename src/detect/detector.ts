/**
 * Streaming detections over committed events (docs/detections.md).
 *
 * Where it runs: on the writer's committed rows (`onCommitted`), in seq order, after each batch
 * commits. Only there does every event have its chain and seq, so a finding can name the rows that
 * triggered it; and a detection never holds up intake (it runs between batches, synchronously, on
 * rows already stored). Each finding is a new `internal` record (OCSF 2004 Detection Finding) put
 * into the writer's queue, chained after the rows it names. Internal rows (these findings, the
 * monitor's) are not observed.
 *
 * State is bounded (LRU maps capped at `max_keys` per rule, windows capped per key) and rebuilt at
 * start by replaying the ledger's recent rows (`rebuildFromLedger`) without writing findings; the
 * findings already in the ledger restore the cool-downs, so a restart neither repeats nor loses one.
 */
import type { Logger } from 'pino';
import type pg from 'pg';
import { internalRecord } from '../ledger/internal-record.js';
import type { ChainedRecord, LedgerRecord } from '../ledger/types.js';
import { RateLimitedLog } from '../listener/ratelimit-log.js';
import type { Metrics } from '../metrics/registry.js';
import { liftColumns } from '../normalize/columns.js';
import type { LiftedColumns, OcsfEvent } from '../normalize/types.js';
import type { DetectionConfig } from './config.js';
import { emptyObserved, eventTime, observeInto, type Ref } from './event.js';
import { DETECTION_RULES, detectionOf, detectionToEvent, type Detection } from './finding.js';
import type { RuleContext, RuleModule } from './rule.js';
import { bruteForce } from './rules/brute-force.js';
import { bulkExport } from './rules/bulk-export.js';
import { changeWindow } from './rules/change-window.js';
import { newNetwork } from './rules/new-network.js';
import { privilegeEscalation } from './rules/privilege-escalation.js';
import { serviceAccounts } from './rules/service-account.js';
import { successAfterFailures } from './rules/success-after-failures.js';
import { Lru } from './state.js';

export interface DetectorOptions {
  readonly config: DetectionConfig;
  readonly metrics?: Metrics;
  readonly log?: Logger;
  /** Where findings go: the writer's queue (or set later with `attach`). */
  readonly enqueue?: (record: LedgerRecord) => void;
  /** Clock for the findings' receive time (ms); tests pin it. */
  readonly now?: () => number;
}

export interface RebuildResult {
  readonly rows: number;
  readonly findings: number;
  readonly fromSeq: number | null;
  readonly elapsedMs: number;
}

/** The rule modules the config enables. */
function buildModules(c: DetectionConfig): RuleModule[] {
  const m: RuleModule[] = [];
  if (c.bruteForce.enabled) m.push(bruteForce(c.bruteForce, c.maxKeys, c.maxRefs));
  if (c.successAfterFailures.enabled) m.push(successAfterFailures(c.successAfterFailures, c.maxKeys, c.maxRefs));
  if (c.privilegeEscalation.enabled) m.push(privilegeEscalation(c));
  if (c.bulkExport.enabled) m.push(bulkExport(c.bulkExport, c.maxKeys, c.maxRefs));
  if (c.changeWindow.enabled) m.push(changeWindow(c));
  if (c.serviceAccounts.enabled) m.push(serviceAccounts(c));
  if (c.newNetwork.enabled) m.push(newNetwork(c));
  return m;
}

export class Detector {
  readonly config: DetectionConfig;
  readonly #modules: readonly RuleModule[];
  /** class_uid -> the modules that look at it. */
  readonly #byClass = new Map<number, RuleModule[]>();
  readonly #metrics: Metrics | undefined;
  readonly #log: RateLimitedLog | undefined;
  readonly #now: () => number;
  #enqueue: ((record: LedgerRecord) => void) | undefined;
  /** rule -> key -> time of the last finding written (one map per rule: no key strings to build per check). */
  readonly #cooldowns = new Map<string, Lru<string, number>>();
  /** Earliest event time observed (replayed or live): how much history "never seen" rests on. */
  #historyStart: number | null = null;
  #replaying = false;
  #emitted = 0;
  #suppressed = 0;
  readonly #ctx: RuleContext;
  /** The one Observed lent to the rules per event (no allocation per event but its Ref). */
  readonly #slot = emptyObserved();

  constructor(o: DetectorOptions) {
    this.config = o.config;
    this.#metrics = o.metrics;
    this.#log = o.log ? new RateLimitedLog(o.log, 1000) : undefined;
    this.#now = o.now ?? Date.now;
    this.#enqueue = o.enqueue;
    this.#modules = buildModules(o.config);
    for (const m of this.#modules) {
      for (const cls of m.classes) {
        const list = this.#byClass.get(cls) ?? [];
        list.push(m);
        this.#byClass.set(cls, list);
      }
    }
    // Every rule's series exists at 0 from the start, so Prometheus' increase() sees the first finding.
    if (o.metrics !== undefined) for (const rule of DETECTION_RULES) o.metrics.detections.inc({ rule }, 0);
    this.#ctx = {
      config: o.config,
      fire: (d, cooldownMs) => this.#fire(d, cooldownMs),
      cooling: (rule, key, t, cooldownMs) => this.#cooling(rule, key, t, cooldownMs),
      warm: (t) => this.#historyStart !== null && t - this.#historyStart >= this.config.warmupMs,
    };
  }

  /** Sets where findings go (the writer's `enqueue`). */
  attach(enqueue: (record: LedgerRecord) => void): void {
    this.#enqueue = enqueue;
  }

  /** Findings written, and findings held back by a cool-down, since start. */
  get stats(): { emitted: number; suppressed: number; keys: number; historyStart: number | null } {
    let keys = 0;
    for (const c of this.#cooldowns.values()) keys += c.size;
    for (const m of this.#modules) keys += m.size();
    return { emitted: this.#emitted, suppressed: this.#suppressed, keys, historyStart: this.#historyStart };
  }

  /** The writer's post-commit hook: committed rows in seq order. Synchronous and never throws on input. */
  onCommitted(rows: readonly ChainedRecord[]): void {
    for (const r of rows) {
      if (r.format === 'internal') continue;
      this.observe(r.event, r.columns, r.chain, r.seq, r.receivedAtUs);
    }
  }

  /** One committed (or replayed) event with its lifted columns. Measured per event in bench/ingest.ts. */
  observe(event: OcsfEvent, columns: LiftedColumns, chain: string, seq: number, receivedAtUs: number): void {
    const t = eventTime(event, receivedAtUs / 1000, this.config.maxClockSkewMs);
    if (this.#historyStart === null || t < this.#historyStart) this.#historyStart = t;
    const cls = columns.class_uid;
    const modules = this.#byClass.get(cls);
    if (modules === undefined) return;
    // What no rule reads: other Authentication and Process activities (session lines, logoffs), and
    // lines repeating an attempt counted elsewhere. Skipped before building anything.
    const activity = columns.activity_id;
    if ((cls === 3002 && activity !== 1 && activity !== 7) || (cls === 1007 && activity !== 1)) return;
    const unmapped = event.unmapped as { repeat_of?: unknown } | undefined;
    if (unmapped?.repeat_of != null) return;
    const o = observeInto(this.#slot, event, columns, { chain, seq }, t);
    for (const m of modules) {
      try {
        m.observe(o, this.#ctx);
      } catch (err) {
        // A rule bug must not stop the writer's hook (nor the other rules); it is logged, rate-limited.
        this.#log?.warn(`detect-error:${m.name}`, { rule: m.name, chain, seq, err: (err as Error).message }, 'detection rule failed on an event');
      }
    }
  }

  #cooldownsOf(rule: string): Lru<string, number> {
    let c = this.#cooldowns.get(rule);
    if (c === undefined) {
      c = new Lru(this.config.maxKeys);
      this.#cooldowns.set(rule, c);
    }
    return c;
  }

  #cooling(rule: string, key: string, t: number, cooldownMs: number): boolean {
    if (cooldownMs <= 0) return false;
    const last = this.#cooldowns.get(rule)?.peek(key);
    if (last !== undefined && t >= last && t - last < cooldownMs) {
      if (!this.#replaying) this.#suppressed++;
      return true;
    }
    return false;
  }

  #fire(d: Detection, cooldownMs: number): boolean {
    if (this.#cooling(d.rule, d.key, d.time, cooldownMs)) return false;
    if (this.#replaying) return true;
    if (cooldownMs > 0) this.#cooldownsOf(d.rule).set(d.key, d.time);
    this.#emitted++;
    this.#metrics?.detections.inc({ rule: d.rule });
    const event = detectionToEvent(d);
    this.#log?.warn(`detection:${d.rule}`, { rule: d.rule, key: d.key, refs: d.refs.length }, d.message);
    this.#enqueue?.(internalRecord(event, { receivedAtUs: this.#now() * 1000, hostname: d.host, msgid: `detection.${d.rule}` }));
    return true;
  }

  /** A replayed finding row: its rule and key start their cool-down again. */
  #restoreCooldown(event: OcsfEvent): void {
    const det = detectionOf(event);
    if (det === null) return;
    const c = this.#cooldownsOf(det.rule);
    const prev = c.peek(det.key);
    if (prev === undefined || event.time > prev) c.set(det.key, event.time);
  }

  /** Replays rows (from `rebuildFromLedger`, or tests): state is learned, nothing is written. */
  replay(rows: Iterable<{ chain: string; seq: number; receivedAtUs: number; format: string; event: OcsfEvent; columns?: LiftedColumns }>): number {
    this.#replaying = true;
    let n = 0;
    try {
      for (const r of rows) {
        n++;
        if (r.format === 'internal') this.#restoreCooldown(r.event);
        else this.observe(r.event, r.columns ?? liftColumns(r.event), r.chain, r.seq, r.receivedAtUs);
      }
    } finally {
      this.#replaying = false;
    }
    return n;
  }

  /**
   * Rebuilds the state from the chain's rows received within the last `windowMs` (default: the
   * learning window): streams them in seq order through a cursor and replays them without writing
   * findings. Call it before the writer starts, so no live row is observed before the older ones.
   */
  async rebuildFromLedger(pool: pg.Pool, chain: string, windowMs = this.config.learningWindowMs): Promise<RebuildResult> {
    const started = Date.now();
    const since = new Date(this.#now() - windowMs);
    const client = await pool.connect();
    let rows = 0;
    let findings = 0;
    let fromSeq: number | null = null;
    try {
      const first = await client.query<{ seq: string | null; at: string | null }>(
        'SELECT min(seq)::text AS seq, (extract(epoch FROM min(received_at)) * 1000)::float8::text AS at FROM ledger WHERE chain = $1 AND received_at >= $2',
        [chain, since],
      );
      const row = first.rows[0];
      if (row?.seq == null) return { rows: 0, findings: 0, fromSeq: null, elapsedMs: Date.now() - started };
      fromSeq = Number(row.seq);
      if (row.at !== null) {
        const at = Number(row.at);
        if (this.#historyStart === null || at < this.#historyStart) this.#historyStart = at;
      }
      const classes = [...this.#byClass.keys(), 2004];
      await client.query('BEGIN READ ONLY');
      await client.query(
        `DECLARE detect_replay NO SCROLL CURSOR FOR
         SELECT seq::text AS seq, (extract(epoch FROM received_at) * 1000000)::float8 AS us, format, event
         FROM ledger WHERE chain = $1 AND seq >= $2 AND class_uid = ANY($3::int[]) ORDER BY seq`,
        [chain, fromSeq, classes],
      );
      for (;;) {
        const batch = await client.query<{ seq: string; us: number; format: string; event: OcsfEvent }>('FETCH 2000 FROM detect_replay');
        if (batch.rows.length === 0) break;
        for (const r of batch.rows) if (r.format === 'internal' && detectionOf(r.event) !== null) findings++;
        rows += this.replay(batch.rows.map((r) => ({ chain, seq: Number(r.seq), receivedAtUs: r.us, format: r.format, event: r.event })));
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
    return { rows, findings, fromSeq, elapsedMs: Date.now() - started };
  }
}

/** `detector.rebuildFromLedger(pool, chain, windowMs)` as a function. */
export function rebuildFromLedger(detector: Detector, pool: pg.Pool, chain: string, windowMs?: number): Promise<RebuildResult> {
  return detector.rebuildFromLedger(pool, chain, windowMs);
}

export type { Ref };
