// Anna's SetLattice: a grow-only set merged by union. Elements are strings or
// numbers so they can live in a JS Set with value semantics.

import { Lattice } from './lattice.js';
import { compareValues } from './value_order.js';
import { decodeWith, expectArray, invalidArgument, typeName } from './validate.js';

export type SetElement = string | number;

export class SetLattice<E extends SetElement = SetElement> extends Lattice<ReadonlySet<E>> {
  readonly kind = 'set';
  readonly #elements: ReadonlySet<E>;

  constructor(elements: Iterable<E> = []) {
    super();
    const set = new Set<E>();
    for (const element of elements) {
      // NaN is its own element in a Set but never equal to itself anywhere
      // else, so it would break equality across a trip through other code.
      if (typeof element !== 'string' && (typeof element !== 'number' || Number.isNaN(element))) {
        throw invalidArgument('set', `elements must be strings or numbers, got ${typeName(element)}`);
      }
      set.add(element);
    }
    this.#elements = set;
  }

  static fromData(data: unknown): SetLattice {
    return decodeWith('set', () => new SetLattice(expectArray('set', data, 'elements') as SetElement[]));
  }

  get size(): number {
    return this.#elements.size;
  }

  has(element: E): boolean {
    return this.#elements.has(element);
  }

  merge(other: this): this {
    return new SetLattice<E>([...this.#elements, ...other.#elements]) as this;
  }

  /** A copy, so a caller cannot grow the lattice behind its back. */
  reveal(): ReadonlySet<E> {
    return new Set(this.#elements);
  }

  equals(other: this): boolean {
    if (this.#elements.size !== other.#elements.size) return false;
    for (const element of this.#elements) if (!other.#elements.has(element)) return false;
    return true;
  }

  toData(): E[] {
    return [...this.#elements].sort(compareValues);
  }
}
