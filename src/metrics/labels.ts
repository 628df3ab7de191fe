/** The `source` label value that names which cannot get their own series are folded into. */
export const OTHER_SOURCE = '_other_';

/**
 * Hands out label values from a bounded set, so a flood of new syslog hostnames cannot grow
 * the number of Prometheus series (or the memory behind them) without limit.
 *
 * Reserved names (expected sources, authenticated peer names) always get their own label;
 * other names get one while fewer than `max` labels are in use, then fold into `_other_`.
 */
export class BoundedLabels {
  readonly #max: number;
  readonly #labels = new Set<string>();

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`label cap must be a positive integer, got ${max}`);
    this.#max = max;
  }

  /** The label for `name`: itself when already labelled, reserved, or under the cap; `_other_` otherwise. */
  label(name: string, reserved = false): string {
    if (this.#labels.has(name)) return name;
    if (!reserved && this.#labels.size >= this.#max) return OTHER_SOURCE;
    this.#labels.add(name);
    return name;
  }

  has(name: string): boolean {
    return this.#labels.has(name);
  }

  get size(): number {
    return this.#labels.size;
  }
}
