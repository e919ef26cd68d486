// Anna's OrderedSetLattice: a grow-only set of any plain values, read back in
// compareValues order so every replica lists the same elements the same way.

import { Lattice } from './lattice.js';
import { canonicalValues, sameValues, unionSorted } from './sorted_values.js';
import { decodeWith, expectArray } from './validate.js';

export class OrderedSetLattice<E = unknown> extends Lattice<readonly E[]> {
  readonly kind = 'ordered-set';
  readonly #elements: readonly E[];

  constructor(elements: Iterable<E> = []) {
    super();
    this.#elements = canonicalValues('ordered-set', elements);
  }

  static fromData(data: unknown): OrderedSetLattice {
    return decodeWith('ordered-set', () => new OrderedSetLattice(expectArray('ordered-set', data, 'elements')));
  }

  get size(): number {
    return this.#elements.length;
  }

  merge(other: this): this {
    return new OrderedSetLattice<E>(unionSorted(this.#elements, other.#elements)) as this;
  }

  /** The elements in order; the array is frozen, so it is safe to hand out. */
  reveal(): readonly E[] {
    return this.#elements;
  }

  equals(other: this): boolean {
    return sameValues(this.#elements, other.#elements);
  }

  toData(): readonly E[] {
    return this.#elements;
  }
}
