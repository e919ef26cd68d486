// Anna's MaxLattice over integers: a value that only goes up (counters of
// monotone progress, high-water marks). Integers only, because a float would
// lose increments past 2^53 and then replicas could disagree on the maximum.

import { RankedLattice } from './ranked.js';
import { decodeWith, invalidArgument, malformed, typeName } from './validate.js';

export class MaxIntLattice extends RankedLattice<number> {
  readonly kind = 'max-int';
  readonly value: number;

  constructor(value = 0) {
    super();
    if (!Number.isSafeInteger(value)) {
      throw invalidArgument('max-int', `value must be a safe integer, got ${typeName(value)} ${String(value)}`);
    }
    this.value = value === 0 ? 0 : value;
  }

  static fromData(data: unknown): MaxIntLattice {
    // Checked here, not left to the constructor, whose default would turn a
    // missing value into 0.
    if (typeof data !== 'number') throw malformed('max-int', `expected a number, got ${typeName(data)}`);
    return decodeWith('max-int', () => new MaxIntLattice(data));
  }




  protected rank(other: this): number {
    return this.value === other.value ? 0 : this.value > other.value ? 1 : -1;
  }

  toData(): number {
    return this.value;
  }
}
