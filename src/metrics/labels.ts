import { escapeControls } from '../parsing/text.js';

/** The `source` label value that names which cannot get their own series are folded into. */
export const OTHER_SOURCE = '_other_';

export interface BoundedLabelsOptions {
  /** Called with a label that lost its slot: remove its series, so the count of series stays bounded. */
  readonly onEvict?: (label: string) => void;
  /** Counts evictions (`syslog_ledger_source_labels_evicted_total`). */
  readonly evictions?: { inc(): void };
}

/**
 * Hands out label values from a bounded set, so a flood of new syslog hostnames cannot grow
 * the number of Prometheus series (or the memory behind them) without limit.
 *
 * Reserved names (expected sources, authenticated peer names) always get their own label, and
 * keep it. Other names share the slots left under `max`, least recently used first out: a new name
 * takes the slot of the name unseen the longest (its series are removed and the eviction counted),
 * so one client that sends 10,000 made-up hostnames cannot keep every real host that appears later
 * in `_other_`. Only when reserved names fill every slot do other names fold into `_other_`.
 *
 * Control characters in a name (a hostname, or a certificate CN) are written `#ooo` as rsyslog
 * does, so no label value holds a raw CR, ESC or BEL.
 */
export class BoundedLabels {
  readonly #max: number;
  readonly #reserved = new Set<string>();
  /** Non-reserved labels; insertion order is recency order (the first key is the least recently used). */
  readonly #lru = new Map<string, true>();
  readonly #onEvict: ((label: string) => void) | undefined;
  readonly #evictions: { inc(): void } | undefined;

  constructor(max: number, opts: BoundedLabelsOptions = {}) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`label cap must be a positive integer, got ${max}`);
    this.#max = max;
    this.#onEvict = opts.onEvict;
    this.#evictions = opts.evictions;
  }

  /** The label for `name`: itself (control characters escaped), or `_other_` when reserved names fill every slot. */
  label(name: string, reserved = false): string {
    const l = escapeControls(name);
    if (this.#reserved.has(l)) return l;
    if (reserved) {
      this.#lru.delete(l);
      this.#reserved.add(l);
      this.#evictDownTo(this.#max - this.#reserved.size);
      return l;
    }
    if (this.#lru.delete(l)) {
      this.#lru.set(l, true);
      return l;
    }
    const slots = this.#max - this.#reserved.size;
    if (slots <= 0) return OTHER_SOURCE;
    this.#evictDownTo(slots - 1);
    this.#lru.set(l, true);
    return l;
  }

  /** Evicts the least recently used shared labels until at most `n` remain. */
  #evictDownTo(n: number): void {
    while (this.#lru.size > Math.max(0, n)) {
      const oldest = this.#lru.keys().next().value as string;
      this.#lru.delete(oldest);
      this.#onEvict?.(oldest);
      this.#evictions?.inc();
    }
  }

  /**
   * A reserved name becomes an ordinary one (a source no longer expected): it keeps its label, now
   * in the shared slots, and can be evicted like any other. Without this, every source ever
   * forgotten would keep a slot for good, and hostname churn would fill them all.
   */
  release(name: string): void {
    const l = escapeControls(name);
    if (!this.#reserved.delete(l)) return;
    this.#lru.set(l, true);
    this.#evictDownTo(this.#max - this.#reserved.size);
  }

  has(name: string): boolean {
    const l = escapeControls(name);
    return this.#reserved.has(l) || this.#lru.has(l);
  }

  get size(): number {
    return this.#reserved.size + this.#lru.size;
  }
}
