// Last-writer-wins register (Anna's LWWPairLattice): the write with the highest
// timestamp wins. Ties fall to the higher writer id and then to the larger
// value, so every replica keeps the same winner whatever order merges arrive in.

import { RankedLattice } from './ranked.js';
import { compareValues, isPlainValue } from './value_order.js';
import { decodeWith, expectTuple, invalidArgument, typeName } from './validate.js';

let lastNow = 0;

export class LWWPair<T = unknown> extends RankedLattice<T> {
  readonly kind = 'lww';
  readonly timestamp: number;
  readonly writer: string;
  readonly value: T;

  constructor(timestamp: number, writer: string, value: T) {
    super();
    if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) {
      throw invalidArgument('lww', `timestamp must be a finite number, got ${typeName(timestamp)}`);
    }
    if (typeof writer !== 'string') throw invalidArgument('lww', `writer must be a string, got ${typeName(writer)}`);
    if (!isPlainValue(value)) throw invalidArgument('lww', 'value must be plain data');
    // -0 and 0 are the same instant; keeping both apart would let the winner's
    // encoding depend on merge order.
    this.timestamp = timestamp === 0 ? 0 : timestamp;
    this.writer = writer;
    this.value = value;
  }

  /**
   * A pair stamped with the current time in microseconds, strictly later than
   * any earlier `now` in this process, so two writes from one process never
   * tie and a later write always wins over an earlier one.
   */
  static now<T>(value: T, writer: string): LWWPair<T> {
    lastNow = Math.max(Date.now() * 1000, lastNow + 1);
    return new LWWPair(lastNow, writer, value);
  }

  static fromData(data: unknown): LWWPair {
    return decodeWith('lww', () => {
      const [timestamp, writer, value] = expectTuple('lww', data, 3, 'lww pair');
      return new LWWPair(timestamp as number, writer as string, value);
    });
  }

  protected rank(other: LWWPair<T>): number {
    if (this.timestamp !== other.timestamp) return this.timestamp < other.timestamp ? -1 : 1;
    if (this.writer !== other.writer) return this.writer < other.writer ? -1 : 1;
    return compareValues(this.value, other.value);
  }




  toData(): [number, string, T] {
    return [this.timestamp, this.writer, this.value];
  }
}
