// Anna's BoolLattice: a flag that, once set anywhere, stays set everywhere.

import { Lattice } from './lattice.js';
import { invalidArgument, malformed, typeName } from './validate.js';

export class BoolLattice extends Lattice<boolean> {
  readonly kind = 'bool';
  readonly value: boolean;

  constructor(value = false) {
    super();
    if (typeof value !== 'boolean') throw invalidArgument('bool', `value must be a boolean, got ${typeName(value)}`);
    this.value = value;
  }

  static fromData(data: unknown): BoolLattice {
    // Checked here, not left to the constructor, whose default would turn a
    // missing value into false.
    if (typeof data !== 'boolean') throw malformed('bool', `expected a boolean, got ${typeName(data)}`);
    return new BoolLattice(data);
  }

  // The winner is returned as is: lattices are immutable, so sharing is safe.
  merge(other: this): this {
    return other.value ? other : this;
  }

  reveal(): boolean {
    return this.value;
  }

  equals(other: this): boolean {
    return this.value === other.value;
  }

  toData(): boolean {
    return this.value;
  }
}
