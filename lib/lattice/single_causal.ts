// Anna's SingleKeyCausalLattice: a value under causal consistency. A write that
// causally follows another replaces it; concurrent writes are all kept, as
// siblings, for the reader to reconcile. See causal.ts for the merge.

import { CausalLattice, type CausalPayload } from './causal.js';
import { canonicalValues, sameValues, unionSorted } from './sorted_values.js';
import { decodeWith, expectArray, expectTuple } from './validate.js';
import { VectorClock } from './vector_clock.js';

export interface SingleCausalVersion<T> {
  readonly clock: VectorClock;
  readonly values: readonly T[];
}

export class SingleKeyCausal<T = unknown> extends CausalLattice<T, CausalPayload<T>> {
  readonly kind = 'single-causal';

  /** One write: `values` as of `clock`. */
  constructor(clock: VectorClock = new VectorClock(), values: Iterable<T> = []) {
    super('single-causal', clock, { values: canonicalValues('single-causal', values) });
  }

  /** The state holding these writes, as if each had been merged in. */
  static fromVersions<T>(versions: Iterable<SingleCausalVersion<T>>): SingleKeyCausal<T> {
    let state = new SingleKeyCausal<T>();
    for (const { clock, values } of versions) state = state.merge(new SingleKeyCausal(clock, values));
    return state;
  }

  /** Expects what toData writes: a non-empty list of [clock entries, values]. */
  static fromData(data: unknown): SingleKeyCausal {
    return decodeWith('single-causal', () =>
      SingleKeyCausal.fromVersions(
        expectArray('single-causal', data, 'versions', 1).map((version) => {
          const [clock, values] = expectTuple('single-causal', version, 2, 'version');
          return { clock: VectorClock.fromData(clock), values: expectArray('single-causal', values, 'values') };
        }),
      ),
    );
  }

  /** The siblings: each unsuperseded write with its own clock. */
  get versions(): readonly SingleCausalVersion<T>[] {
    return this.versionList.map(({ clock, payload }) => ({ clock, values: payload.values }));
  }

  protected blank(): this {
    return new SingleKeyCausal<T>() as this;
  }

  protected joinPayloads(a: CausalPayload<T>, b: CausalPayload<T>): CausalPayload<T> {
    return { values: unionSorted(a.values, b.values) };
  }

  protected samePayload(a: CausalPayload<T>, b: CausalPayload<T>): boolean {
    return sameValues(a.values, b.values);
  }

  toData(): [[string, number][], readonly T[]][] {
    return this.versionList.map(({ clock, payload }) => [clock.toData(), payload.values]);
  }
}
