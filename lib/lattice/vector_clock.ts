// A vector clock: per node, how many of that node's events are known. Clocks
// order causally (one happened before another when it is <= on every node) and
// merge by pointwise max. A missing node counts as 0, and zero entries are
// dropped so that a clock has one representation and {a: 0} equals {}.

import { Lattice } from './lattice.js';
import { decodeWith, expectArray, invalidArgument, typeName } from './validate.js';

export type ClockOrder = 'before' | 'after' | 'equal' | 'concurrent';

export class VectorClock extends Lattice<ReadonlyMap<string, number>> {
  readonly kind = 'vector-clock';
  readonly #counters: ReadonlyMap<string, number>;

  constructor(counters: Iterable<readonly [string, number]> | Readonly<Record<string, number>> = []) {
    super();
    if (typeof counters !== 'object' || counters === null) {
      throw invalidArgument('vector-clock', `counters must be pairs or a record, got ${typeName(counters)}`);
    }
    const entries: Iterable<unknown> = Symbol.iterator in counters ? counters : Object.entries(counters);
    const map = new Map<string, number>();
    const seen = new Set<string>();
    for (const entry of entries) {
      if (!Array.isArray(entry) || entry.length !== 2) throw invalidArgument('vector-clock', 'entries must be [node, counter] pairs');
      const [node, counter] = entry as unknown[];
      if (typeof node !== 'string') throw invalidArgument('vector-clock', `node ids must be strings, got ${typeName(node)}`);
      if (typeof counter !== 'number' || !Number.isSafeInteger(counter) || counter < 0) {
        throw invalidArgument('vector-clock', `the counter of "${node}" must be a non-negative integer`);
      }
      if (seen.has(node)) throw invalidArgument('vector-clock', `node "${node}" appears twice`);
      seen.add(node);
      if (counter > 0) map.set(node, counter);
    }
    this.#counters = map;
  }

  static fromData(data: unknown): VectorClock {
    return decodeWith('vector-clock', () => new VectorClock(expectArray('vector-clock', data, 'entries') as [string, number][]));
  }

  get(node: string): number {
    return this.#counters.get(node) ?? 0;
  }

  /** A new clock with `node`'s counter one higher: the clock of `node`'s next event. */
  increment(node: string): VectorClock {
    const next = new Map(this.#counters);
    next.set(node, this.get(node) + 1);
    return new VectorClock(next);
  }

  /** True when this clock is >= `other` on every node (equal clocks dominate each other). */
  dominates(other: VectorClock): boolean {
    for (const [node, counter] of other.#counters) if (this.get(node) < counter) return false;
    return true;
  }

  /** Where this clock stands relative to `other`: 'before' means strictly before. */
  compare(other: VectorClock): ClockOrder {
    const ge = this.dominates(other);
    const le = other.dominates(this);
    if (ge && le) return 'equal';
    if (ge) return 'after';
    if (le) return 'before';
    return 'concurrent';
  }

  merge(other: this): this {
    const merged = new Map(this.#counters);
    for (const [node, counter] of other.#counters) merged.set(node, Math.max(counter, this.get(node)));
    return new VectorClock(merged) as this;
  }

  reveal(): ReadonlyMap<string, number> {
    return new Map(this.#counters);
  }

  equals(other: this): boolean {
    return this.compare(other) === 'equal';
  }

  /** [node, counter] pairs sorted by node. */
  toData(): [string, number][] {
    return [...this.#counters].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
}
