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
 * Findings come per episode (docs/detections.md, "Episodes"): the first trigger of a rule for a key
 * writes a finding and opens an episode; triggers within the rule's cool-down of the last one only
 * count; a summary is written every `--finding-summary-interval` while they go on, and when the
 * episode ends (a cool-down without a trigger). Every row passes the per-source finding budget
 * (src/monitoring/finding-budget.ts); the source is the peer that sent the triggering row.
 *
 * State is bounded (LRU maps capped at `max_keys` per rule, windows capped per key) and rebuilt at
 * start by replaying the ledger's recent rows (`rebuildFromLedger`) without writing findings; the
 * findings already in the ledger restore the episodes, so a restart neither repeats nor loses one.
 */
import type { Logger } from 'pino';
import type pg from 'pg';
import { sql } from 'kysely';
import { db, run } from '../ledger/db.js';
import { internalRecord } from '../ledger/internal-record.js';
import type { ChainedRecord, LedgerRecord } from '../ledger/types.js';
import { RateLimitedLog } from '../listener/ratelimit-log.js';
import { uncappedSink, type FindingSink } from '../monitoring/finding-budget.js';
import type { Metrics } from '../metrics/registry.js';
import { peerSourceName } from '../monitoring/sources.js';
import { liftColumns } from '../normalize/columns.js';
import type { LiftedColumns, OcsfEvent } from '../normalize/types.js';
import type { DetectionConfig } from './config.js';
import { emptyObserved, eventTime, observeInto, type Ref } from './event.js';
import { DETECTION_RULES, detectionOf, detectionToEvent, type Detection } from './finding.js';
import { human, type RuleContext, type RuleModule } from './rule.js';
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
  /** Where findings go: the writer's queue, uncapped (or set later with `attach`). */
  readonly enqueue?: (record: LedgerRecord) => void;
  /** `--finding-summary-interval`: a summary of an episode still going on this often. Default 300 s. */
  readonly summaryIntervalMs?: number;
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
  #sink: FindingSink | undefined;
  readonly #summaryMs: number;
  /** rule -> key -> its episode (one map per rule: no key strings to build per check). */
  readonly #episodes = new Map<string, Lru<string, DetectionEpisode>>();
  /** Live episodes with triggers after their finding: what `tick()` summarizes and closes. */
  readonly #pending = new Set<DetectionEpisode>();
  /** The source (peer) of the row being observed: whose finding budget a finding spends. */
  #source = '';
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
    this.#sink = o.enqueue ? uncappedSink(o.enqueue) : undefined;
    this.#summaryMs = o.summaryIntervalMs ?? 300_000;
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

  /** Sets where findings go: the per-source finding budget, or (uncapped) the writer's `enqueue`. */
  attach(target: FindingSink | ((record: LedgerRecord) => void)): void {
    this.#sink = typeof target === 'function' ? uncappedSink(target) : target;
  }

  /** Findings written, and triggers counted in an open episode instead, since start. */
  get stats(): { emitted: number; suppressed: number; keys: number; historyStart: number | null; episodes: number } {
    let keys = 0;
    for (const c of this.#episodes.values()) keys += c.size;
    for (const m of this.#modules) keys += m.size();
    return { emitted: this.#emitted, suppressed: this.#suppressed, keys, historyStart: this.#historyStart, episodes: this.#pending.size };
  }

  /**
   * Summaries: of each episode whose summary interval is over and which had triggers since, and of
   * each that ended (no trigger for its cool-down). Call once a second (the monitor's tick does).
   */
  tick(): void {
    const now = this.#now();
    for (const ep of this.#pending) {
      if (now - ep.lastTriggerWall >= ep.cooldownMs) {
        this.#pending.delete(ep);
        if (ep.sinceSummary > 0 || ep.summaries > 0) this.#summarize(ep, false, now);
      } else if (ep.sinceSummary > 0 && now - ep.lastSummaryWall >= this.#summaryMs) {
        this.#summarize(ep, true, now);
      }
    }
  }

  /** The writer's post-commit hook: committed rows in seq order. Synchronous and never throws on input. */
  onCommitted(rows: readonly ChainedRecord[]): void {
    for (const r of rows) {
      if (r.format === 'internal') continue;
      this.#source = peerSourceName(r.peer) ?? r.peer.address;
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

  #episodesOf(rule: string): Lru<string, DetectionEpisode> {
    let c = this.#episodes.get(rule);
    if (c === undefined) {
      c = new Lru(this.config.maxKeys);
      this.#episodes.set(rule, c);
    }
    return c;
  }

  /** True when `t` falls in the open episode of `rule` and `key`: the trigger is counted there. */
  #cooling(rule: string, key: string, t: number, cooldownMs: number): boolean {
    if (cooldownMs <= 0) return false;
    const ep = this.#episodes.get(rule)?.peek(key);
    if (ep === undefined || Math.abs(t - ep.lastT) >= cooldownMs) return false;
    if (t > ep.lastT) ep.lastT = t;
    if (!this.#replaying) {
      if (!ep.live) {
        // An episode restored from the ledger goes on after the restart: from now on it is summarized.
        ep.live = true;
        ep.source = this.#source;
        ep.cooldownMs = cooldownMs;
        ep.lastSummaryWall = this.#now();
      }
      this.#suppressed++;
      ep.triggers++;
      ep.sinceSummary++;
      ep.lastTriggerWall = this.#now();
      const second = Math.floor(t / 1000);
      if (second !== ep.lastSecond) {
        ep.affectedSeconds++;
        ep.lastSecond = second;
      }
      if (!this.#pending.has(ep)) {
        // Bounded like the rest of the state: the episode pending longest is summarized and let go.
        if (this.#pending.size >= this.config.maxKeys) {
          const oldest = this.#pending.values().next().value!;
          this.#pending.delete(oldest);
          this.#summarize(oldest, true, this.#now());
        }
        this.#pending.add(ep);
      }
    }
    return true;
  }

  #fire(d: Detection, cooldownMs: number): boolean {
    if (this.#cooling(d.rule, d.key, d.time, cooldownMs)) return false;
    if (this.#replaying) return true;
    if (cooldownMs > 0) {
      const episodes = this.#episodesOf(d.rule);
      const old = episodes.peek(d.key);
      if (old !== undefined && this.#pending.delete(old)) this.#summarize(old, false, this.#now());
      const now = this.#now();
      episodes.set(d.key, {
        d, source: this.#source, cooldownMs, live: true, firstT: d.time, lastT: d.time, triggers: 1, sinceSummary: 0, summaries: 0,
        affectedSeconds: 1, lastSecond: Math.floor(d.time / 1000), lastTriggerWall: now, lastSummaryWall: now,
      });
    }
    this.#emitted++;
    this.#metrics?.detections.inc({ rule: d.rule });
    this.#sink?.write(this.#source, `detection_${d.rule}`, () => {
      this.#log?.warn(`detection:${d.rule}`, { rule: d.rule, key: d.key, refs: d.refs.length }, d.message);
      return internalRecord(detectionToEvent(d), { receivedAtUs: this.#now() * 1000, hostname: d.host, msgid: `detection.${d.rule}` });
    });
    return true;
  }

  /** Writes the summary of an episode (through the budget, as its finding). */
  #summarize(ep: DetectionEpisode, open: boolean, now: number): void {
    const since = ep.sinceSummary;
    ep.sinceSummary = 0;
    ep.summaries++;
    ep.lastSummaryWall = now;
    const d = ep.d;
    const summary: Detection = {
      ...d,
      title: `${d.title}: ${open ? 'still going on' : 'episode over'} (summary)`,
      message: `${d.rule} for ${d.key}: ${ep.triggers} trigger(s) in ${ep.affectedSeconds} s between ${new Date(ep.firstT).toISOString()} and ${new Date(ep.lastT).toISOString()}, ${since} since the last finding or summary; ${open ? 'still going on' : `none for ${human(ep.cooldownMs)}`}. The first: ${d.message}`,
      time: ep.lastT,
      firstTime: ep.firstT,
      count: ep.triggers,
      details: { ...d.details, episode: { summary: true, open, triggers: ep.triggers, since_summary: since, first_ms: ep.firstT, last_ms: ep.lastT, affected_seconds: ep.affectedSeconds } },
    };
    this.#sink?.write(ep.source, 'detection_summary', () =>
      internalRecord(detectionToEvent(summary), { receivedAtUs: now * 1000, hostname: d.host, msgid: `detection.${d.rule}.summary` }),
    );
  }

  /** A replayed finding row (or summary): its rule and key have an episode again, until a cool-down passes without a trigger. */
  #restoreCooldown(event: OcsfEvent): void {
    const det = detectionOf(event);
    if (det === null) return;
    const c = this.#episodesOf(det.rule);
    const prev = c.peek(det.key);
    if (prev !== undefined && event.time <= prev.lastT) return;
    const t = event.time;
    c.set(det.key, {
      d: {
        rule: det.rule as Detection['rule'], key: det.key, title: String((event.finding_info as { title?: unknown } | undefined)?.title ?? det.rule),
        message: String(event.message ?? ''), severityId: ([2, 3, 4].includes(event.severity_id as number) ? event.severity_id : 3) as 2 | 3 | 4, time: t, firstTime: t, host: ((event.device as { hostname?: string } | undefined)?.hostname) ?? null, refs: [], details: {},
      },
      source: '', cooldownMs: 0, live: false, firstT: t, lastT: t, triggers: 0, sinceSummary: 0, summaries: 0, affectedSeconds: 0, lastSecond: 0, lastTriggerWall: 0, lastSummaryWall: 0,
    });
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
      const [row] = await run(
        client,
        db
          .selectFrom('ledger')
          .select([sql<string | null>`min(seq)::text`.as('seq'), sql<string | null>`(extract(epoch FROM min(received_at)) * 1000)::float8::text`.as('at')])
          .where('chain', '=', chain)
          .where('received_at', '>=', since),
      );
      if (row?.seq == null) return { rows: 0, findings: 0, fromSeq: null, elapsedMs: Date.now() - started };
      fromSeq = Number(row.seq);
      if (row.at !== null) {
        const at = Number(row.at);
        if (this.#historyStart === null || at < this.#historyStart) this.#historyStart = at;
      }
      const classes = [...this.#byClass.keys(), 2004];
      await client.query('BEGIN READ ONLY');
      // The full OCSF events (ledger_rows assembles a v3 row's) of the classes the detections read.
      const replay = db
        .selectFrom('ledger_rows')
        .select([sql<string>`seq::text`.as('seq'), sql<number>`(extract(epoch FROM received_at) * 1000000)::float8`.as('us'), 'format', 'event'])
        .where('chain', '=', chain)
        .where('seq', '>=', fromSeq)
        .where('class_uid', '=', sql<number>`ANY(${classes}::int[])`)
        .orderBy('seq')
        .compile();
      await client.query(`DECLARE detect_replay NO SCROLL CURSOR FOR ${replay.sql}`, replay.parameters as unknown[]);
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

/** One rule's run of triggers for one key: the finding that opened it and the counts since. */
interface DetectionEpisode {
  /** The detection written as the episode's finding. */
  readonly d: Detection;
  source: string;
  cooldownMs: number;
  /** False for an episode restored from the ledger at start, until a live trigger continues it. */
  live: boolean;
  readonly firstT: number;
  /** Event time of the last trigger. */
  lastT: number;
  triggers: number;
  sinceSummary: number;
  summaries: number;
  affectedSeconds: number;
  lastSecond: number;
  /** Wall-clock ms of the last trigger and of the last summary (or the finding). */
  lastTriggerWall: number;
  lastSummaryWall: number;
}
