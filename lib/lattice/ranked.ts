// Lattices whose join is the greater of two states under a total order (LWW,
// priority, max-int, bool): merge keeps the winner as it is (lattices are
// immutable, so sharing it is safe) and equal rank means equal state.

import { Lattice } from './lattice.js';

export abstract class RankedLattice<T> extends Lattice<T> {
  abstract readonly value: T;

  /** Positive when `this` wins over `other`, 0 when both hold the same state. */
  protected abstract rank(other: this): number;

  merge(other: this): this {
    return this.rank(other) >= 0 ? this : other;
  }

  reveal(): T {
    return this.value;
  }

  equals(other: this): boolean {
    return this.rank(other) === 0;
  }
}
