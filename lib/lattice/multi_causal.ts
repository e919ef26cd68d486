// Anna's MultiKeyCausalLattice: a causal value that also records the versions
// of other keys it was written after (its dependencies), so a reader can wait
// until those are visible before showing it. Dominance is decided by the own
// clock alone, as in single-causal (causal.ts); a surviving write keeps its
// dependencies, and writes joined at an equal clock merge theirs key by key.

import { CausalLattice, type CausalPayload } from './causal.js';
import { MapLattice } from './map.js';
import { canonicalValues, sameValues, unionSorted } from './sorted_values.js';
import { decodeWith, expectArray, expectTuple, invalidArgument } from './validate.js';
import { VectorClock } from './vector_clock.js';

export type Dependencies = Iterable<readonly [string, VectorClock]>;

export interface MultiCausalVersion<T> {
  readonly clock: VectorClock;
  readonly deps: ReadonlyMap<string, VectorClock>;
  readonly values: readonly T[];
}

interface Payload<T> extends CausalPayload<T> {
  // A map of clocks merges per key by clock merge, which is exactly what deps need.
  readonly deps: MapLattice<VectorClock>;
}

function depsLattice(deps: Dependencies): MapLattice<VectorClock> {
  const map = new MapLattice<VectorClock>(deps);
  for (const key of map.keys()) {
    if (!(map.get(key) instanceof VectorClock)) throw invalidArgument('multi-causal', `dependency "${key}" is not a VectorClock`);
  }
  return map;
}

export class MultiKeyCausal<T = unknown> extends CausalLattice<T, Payload<T>> {
  readonly kind = 'multi-causal';

  /** One write: `values` as of `clock`, made after seeing `deps` (key → clock). */
  constructor(clock: VectorClock = new VectorClock(), values: Iterable<T> = [], deps: Dependencies = []) {
    super('multi-causal', clock, { values: canonicalValues('multi-causal', values), deps: depsLattice(deps) });
  }

  /** The state holding these writes, as if each had been merged in. */
  static fromVersions<T>(versions: Iterable<{ clock: VectorClock; values: Iterable<T>; deps?: Dependencies }>): MultiKeyCausal<T> {
    let state = new MultiKeyCausal<T>();
    for (const { clock, values, deps } of versions) state = state.merge(new MultiKeyCausal(clock, values, deps));
    return state;
  }

  /** Expects what toData writes: a non-empty list of [clock entries, [key, clock entries][], values]. */
  static fromData(data: unknown): MultiKeyCausal {
    return decodeWith('multi-causal', () =>
      MultiKeyCausal.fromVersions(
        expectArray('multi-causal', data, 'versions', 1).map((version) => {
          const [clock, deps, values] = expectTuple('multi-causal', version, 3, 'version');
          return {
            clock: VectorClock.fromData(clock),
            values: expectArray('multi-causal', values, 'values'),
            deps: expectArray('multi-causal', deps, 'deps').map((dep): [string, VectorClock] => {
              const [key, depClock] = expectTuple('multi-causal', dep, 2, 'dependency');
              return [key as string, VectorClock.fromData(depClock)];
            }),
          };
        }),
      ),
    );
  }

  /** Every sibling's dependencies, merged key by key. */
  get deps(): ReadonlyMap<string, VectorClock> {
    const all = this.versionList.map((v) => v.payload.deps).reduce((a, b) => a.merge(b));
    return new Map(all.toData());
  }

  /** The siblings: each unsuperseded write with its own clock and dependencies. */
  get versions(): readonly MultiCausalVersion<T>[] {
    return this.versionList.map(({ clock, payload }) => ({ clock, deps: new Map(payload.deps.toData()), values: payload.values }));
  }

  protected blank(): this {
    return new MultiKeyCausal<T>() as this;
  }

  protected joinPayloads(a: Payload<T>, b: Payload<T>): Payload<T> {
    return { values: unionSorted(a.values, b.values), deps: a.deps.merge(b.deps) };
  }

  protected samePayload(a: Payload<T>, b: Payload<T>): boolean {
    return sameValues(a.values, b.values) && a.deps.equals(b.deps);
  }

  toData(): [[string, number][], [string, [string, number][]][], readonly T[]][] {
    return this.versionList.map(({ clock, payload }) => [
      clock.toData(),
      payload.deps.toData().map(([key, depClock]): [string, [string, number][]] => [key, depClock.toData()]),
      payload.values,
    ]);
  }
}
