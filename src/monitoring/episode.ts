/**
 * An episode: a run of anomalies on one stream (a sender's numbering, a detection rule's key), from
 * the first anomaly to the stream being back in order. The first anomaly is written as a finding;
 * the rest only count here, and a summary of the counts is written when the episode ends, or every
 * `--finding-summary-interval` while it lasts (docs/metrics.md, "Episodes and summaries").
 */
export interface EpisodeSummary<D> {
  /** Anomalies in the episode, by kind. */
  readonly counts: Readonly<Record<string, number>>;
  readonly anomalies: number;
  /** Anomalies since the previous summary (all of them for the first). */
  readonly sinceSummary: number;
  readonly first: D;
  readonly last: D;
  readonly firstAtMs: number;
  readonly lastAtMs: number;
  /** Distinct seconds (of the anomalies' times) in which at least one anomaly happened. */
  readonly affectedSeconds: number;
}

export class Episode<D> {
  readonly openedAtMs: number;
  readonly first: D;
  last: D;
  lastAtMs: number;
  anomalies = 1;
  sinceSummary = 0;
  affectedSeconds = 1;
  /** When the last summary was written, or the episode opened. */
  lastSummaryAtMs: number;
  readonly #counts = new Map<string, number>();
  #lastSecond: number;

  constructor(kind: string, atMs: number, detail: D) {
    this.openedAtMs = atMs;
    this.lastAtMs = atMs;
    this.lastSummaryAtMs = atMs;
    this.first = detail;
    this.last = detail;
    this.#counts.set(kind, 1);
    this.#lastSecond = Math.floor(atMs / 1000);
  }

  /** One more anomaly in the episode. */
  record(kind: string, atMs: number, detail: D): void {
    this.anomalies++;
    this.sinceSummary++;
    this.#counts.set(kind, (this.#counts.get(kind) ?? 0) + 1);
    this.last = detail;
    if (atMs > this.lastAtMs) this.lastAtMs = atMs;
    const second = Math.floor(atMs / 1000);
    if (second !== this.#lastSecond) {
      this.affectedSeconds++;
      this.#lastSecond = second;
    }
  }

  /** True when a summary has something to say the opening finding did not. */
  get hasNews(): boolean {
    return this.sinceSummary > 0;
  }

  /** The counts so far; marks them summarized at `atMs`. */
  summarize(atMs: number): EpisodeSummary<D> {
    const s: EpisodeSummary<D> = {
      counts: Object.fromEntries(this.#counts),
      anomalies: this.anomalies,
      sinceSummary: this.sinceSummary,
      first: this.first,
      last: this.last,
      firstAtMs: this.openedAtMs,
      lastAtMs: this.lastAtMs,
      affectedSeconds: this.affectedSeconds,
    };
    this.sinceSummary = 0;
    this.lastSummaryAtMs = atMs;
    return s;
  }
}
