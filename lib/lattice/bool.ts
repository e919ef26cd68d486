// Anna's BoolLattice: a flag that, once set anywhere, stays set everywhere.

import { RankedLattice } from './ranked.js';
import { invalidArgument, malformed, typeName } from './validate.js';

export class BoolLattice extends RankedLattice<boolean> {
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




  protected rank(other: this): number {
    return Number(this.value) - Number(other.value);
  }

  toData(): boolean {
    return this.value;
  }
}
