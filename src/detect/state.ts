/**
 * Bounded state for the detection rules: an LRU map (every rule keeps at most `max_keys` keys, the
 * least recently touched go first) and a sliding time window of counted, referenced occurrences.
 */
import type { Ref } from './event.js';

/**
 * A bounded map that forgets the least recently used keys, approximately: two generations. New and
 * touched keys live in `young`; when it holds max/2 keys, it becomes `old` and the previous `old`
 * (keys untouched for a whole generation) is dropped at once. A hit costs one or two Map lookups and
 * no reordering, an eviction nothing per key (bench/ingest.ts: an exact LRU's delete+set per hit
 * cost more than the rules themselves under random source addresses). At most `max` keys are held.
 */
export class Lru<K, V> {
  #young = new Map<K, V>();
  #old = new Map<K, V>();
  readonly #half: number;
  #evicted = 0;

  constructor(readonly max: number) {
    this.#half = Math.max(1, Math.floor(max / 2));
  }

  /** The value, kept for another generation. */
  get(key: K): V | undefined {
    const v = this.#young.get(key);
    if (v !== undefined) return v;
    const o = this.#old.get(key);
    if (o !== undefined) {
      this.#old.delete(key);
      this.#insert(key, o);
    }
    return o;
  }

  /** Without keeping it longer. */
  peek(key: K): V | undefined {
    return this.#young.get(key) ?? this.#old.get(key);
  }

  set(key: K, value: V): void {
    if (this.#young.has(key)) {
      this.#young.set(key, value);
      return;
    }
    this.#old.delete(key);
    this.#insert(key, value);
  }

  #insert(key: K, value: V): void {
    if (this.#young.size >= this.#half) {
      this.#evicted += this.#old.size;
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(key, value);
  }

  /** The value for `key`, created by `make` (and inserted) when absent. */
  upsert(key: K, make: () => V): V {
    let v = this.get(key);
    if (v === undefined) {
      v = make();
      this.#insert(key, v);
    }
    return v;
  }

  delete(key: K): void {
    this.#young.delete(key);
    this.#old.delete(key);
  }

  get size(): number {
    return this.#young.size + this.#old.size;
  }

  /** Keys dropped for the bound so far. */
  get evicted(): number {
    return this.#evicted;
  }

  *values(): IterableIterator<V> {
    yield* this.#young.values();
    yield* this.#old.values();
  }
}

/** One counted occurrence: when, how many, and which row (the rules pass their Observed events). */
export interface Occurrence {
  readonly t: number;
  readonly count: number;
  readonly ref: Ref;
}

/** Occurrences in the last `windowMs`, with their sum. At most `maxEntries` are kept (oldest dropped). */
export class SlidingWindow {
  #items: Occurrence[] = [];
  #head = 0;
  #total = 0;

  constructor(
    readonly windowMs: number,
    readonly maxEntries = 4096,
  ) {}

  /** Keeps `t`, `count` and `ref` of `o` (never `o` itself: an Observed holds its whole event). */
  add(o: Occurrence): void {
    this.#items.push({ t: o.t, count: o.count, ref: o.ref });
    this.#total += o.count;
    if (this.#items.length - this.#head > this.maxEntries) this.#drop();
    this.prune(o.t);
  }

  /** Forgets what is older than `now - windowMs`. */
  prune(now: number): void {
    const limit = now - this.windowMs;
    const items = this.#items;
    while (this.#head < items.length && items[this.#head]!.t <= limit) this.#drop();
    if (this.#head > 32 && this.#head * 2 > items.length) {
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
  }

  #drop(): void {
    this.#total -= this.#items[this.#head]!.count;
    this.#head++;
  }

  /** Sum of the counts in the window (after the last prune). */
  get total(): number {
    return this.#total;
  }

  get entries(): number {
    return this.#items.length - this.#head;
  }

  /** Time of the oldest occurrence kept, or null. */
  get first(): number | null {
    return this.#head < this.#items.length ? this.#items[this.#head]!.t : null;
  }

  /** The rows of the last `max` occurrences, oldest first. */
  refs(max: number): Ref[] {
    return this.#items.slice(Math.max(this.#head, this.#items.length - max)).map((o) => o.ref);
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
    this.#total = 0;
  }
}

/** `*` wildcard patterns (case-insensitive), as `--allow-peer` takes them. */
export function wildcard(p: string): RegExp {
  return new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
}

/** A matcher for a list of exact names and wildcard patterns (answers memoized: names repeat). */
export function nameMatcher(names: readonly string[], patterns: readonly string[] = []): (name: string) => boolean {
  const exact = new Set(names.map((n) => n.toLowerCase()));
  const res = patterns.map(wildcard);
  if (exact.size === 0 && res.length === 0) return () => false;
  const memo = new Map<string, boolean>();
  return (name) => {
    let hit = memo.get(name);
    if (hit === undefined) {
      hit = exact.has(name.toLowerCase()) || res.some((re) => re.test(name));
      if (memo.size >= 10_000) memo.clear();
      memo.set(name, hit);
    }
    return hit;
  };
}
