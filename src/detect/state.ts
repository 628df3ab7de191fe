/**
 * Bounded state for the detection rules: an LRU map (every rule keeps at most `max_keys` keys, the
 * least recently touched go first) and a sliding time window of counted, referenced occurrences.
 */
import type { Ref } from './event.js';

/** A Map with a size cap; `get` and `set` make a key the most recent, inserts past the cap evict the least recent. */
export class Lru<K, V> {
  readonly #map = new Map<K, V>();
  #evicted = 0;

  constructor(readonly max: number) {}

  get(key: K): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }

  /** Without touching recency. */
  peek(key: K): V | undefined {
    return this.#map.get(key);
  }

  set(key: K, value: V): void {
    if (this.#map.has(key)) this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.max) {
      const oldest = this.#map.keys().next().value as K;
      this.#map.delete(oldest);
      this.#evicted++;
    }
  }

  /** The value for `key`, created by `make` (and inserted) when absent. */
  upsert(key: K, make: () => V): V {
    let v = this.get(key);
    if (v === undefined) {
      v = make();
      this.set(key, v);
    }
    return v;
  }

  delete(key: K): void {
    this.#map.delete(key);
  }

  get size(): number {
    return this.#map.size;
  }

  /** Keys evicted for the cap so far (state lost to the bound). */
  get evicted(): number {
    return this.#evicted;
  }

  values(): IterableIterator<V> {
    return this.#map.values();
  }
}

/** Occurrences in the last `windowMs`: each with a time, a count and the row it came from. At most `maxEntries` are kept (oldest dropped). */
export class SlidingWindow {
  #t: number[] = [];
  #n: number[] = [];
  #refs: Ref[] = [];
  #head = 0;
  #total = 0;

  constructor(
    readonly windowMs: number,
    readonly maxEntries = 4096,
  ) {}

  add(t: number, n: number, ref: Ref): void {
    this.#t.push(t);
    this.#n.push(n);
    this.#refs.push(ref);
    this.#total += n;
    if (this.#t.length - this.#head > this.maxEntries) this.#drop();
    this.prune(t);
  }

  /** Forgets what is older than `now - windowMs`. */
  prune(now: number): void {
    const limit = now - this.windowMs;
    while (this.#head < this.#t.length && this.#t[this.#head]! <= limit) this.#drop();
    if (this.#head > 64 && this.#head * 2 > this.#t.length) {
      this.#t = this.#t.slice(this.#head);
      this.#n = this.#n.slice(this.#head);
      this.#refs = this.#refs.slice(this.#head);
      this.#head = 0;
    }
  }

  #drop(): void {
    this.#total -= this.#n[this.#head]!;
    this.#head++;
  }

  /** Sum of the counts in the window (after the last prune). */
  get total(): number {
    return this.#total;
  }

  get entries(): number {
    return this.#t.length - this.#head;
  }

  /** Time of the oldest occurrence kept, or null. */
  get first(): number | null {
    return this.#head < this.#t.length ? this.#t[this.#head]! : null;
  }

  /** The rows of the last `max` occurrences, oldest first. */
  refs(max: number): Ref[] {
    return this.#refs.slice(Math.max(this.#head, this.#refs.length - max));
  }

  clear(): void {
    this.#t = [];
    this.#n = [];
    this.#refs = [];
    this.#head = 0;
    this.#total = 0;
  }
}

/** `*` wildcard patterns (case-insensitive), as `--allow-peer` takes them. */
export function wildcard(p: string): RegExp {
  return new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
}

/** A matcher for a list of exact names and wildcard patterns. */
export function nameMatcher(names: readonly string[], patterns: readonly string[] = []): (name: string) => boolean {
  const exact = new Set(names.map((n) => n.toLowerCase()));
  const res = patterns.map(wildcard);
  if (exact.size === 0 && res.length === 0) return () => false;
  return (name) => exact.has(name.toLowerCase()) || res.some((re) => re.test(name));
}
