// Anna's PriorityLattice: the value with the LOWEST priority wins (think
// "shortest distance so far"). Equal priorities fall to the larger value, so the
// merge stays commutative when two replicas propose different values.

import { RankedLattice } from './ranked.js';
import { compareValues, isPlainValue } from './value_order.js';
import { decodeWith, expectTuple, invalidArgument, typeName } from './validate.js';

export class PriorityLattice<T = unknown> extends RankedLattice<T> {
  readonly kind = 'priority';
  readonly priority: number;
  readonly value: T;

  constructor(priority: number, value: T) {
    super();
    if (typeof priority !== 'number' || Number.isNaN(priority)) {
      throw invalidArgument('priority', `priority must be a number, got ${typeName(priority)}`);
    }
    if (!isPlainValue(value)) throw invalidArgument('priority', 'value must be plain data');
    // -0 and 0 tie under `<`; one spelling keeps the kept state independent of order.
    this.priority = priority === 0 ? 0 : priority;
    this.value = value;
  }

  static fromData(data: unknown): PriorityLattice {
    return decodeWith('priority', () => {
      const [priority, value] = expectTuple('priority', data, 2, 'priority pair');
      return new PriorityLattice(priority as number, value);
    });
  }

  /** Positive when `this` wins. */
  protected rank(other: PriorityLattice<T>): number {
    if (this.priority !== other.priority) return this.priority < other.priority ? 1 : -1;
    return compareValues(this.value, other.value);
  }




  toData(): [number, T] {
    return [this.priority, this.value];
  }
}
