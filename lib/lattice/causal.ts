// What the two causal lattices (Anna's single- and multi-key causal) share: a
// state is the set of writes nothing has superseded. Each write (a version)
// carries a vector clock; a version whose clock another's strictly dominates
// is dropped, versions with concurrent clocks stay side by side as siblings,
// and versions with equal clocks are one write whose payloads join.
//
// Why each sibling keeps its own clock instead of Anna's single merged clock:
// folding siblings into one clock forgets which value came with which clock,
// and merge stops being associative. A at {x:1} merged with B at {y:1} gives
// ({x:1,y:1}, [A, B]); a write C at {x:1,y:1} would then be unioned in as an
// equal clock, though merging C with A and with B one at a time drops both.
// Callers still read one clock (the join of the siblings') and all values.

import { Lattice, type LatticeKind } from './lattice.js';
import { compareValues } from './value_order.js';
import { invalidArgument } from './validate.js';
import { VectorClock } from './vector_clock.js';

export interface Version<P> {
  readonly clock: VectorClock;
  readonly payload: P;
}

/** What every causal payload holds: the written values, canonical (see sorted_values). */
export interface CausalPayload<T> {
  readonly values: readonly T[];
}

/**
 * Joins version lists: equal clocks merge their payloads, strictly dominated
 * clocks go. Sorted by clock, so equal states have element-wise equal lists.
 */
function maximalVersions<P>(versions: readonly Version<P>[], join: (a: P, b: P) => P): readonly Version<P>[] {
  const byClock: Version<P>[] = [];
  for (const version of versions) {
    const i = byClock.findIndex((v) => v.clock.equals(version.clock));
    if (i < 0) byClock.push(version);
    else byClock[i] = { clock: version.clock, payload: join(byClock[i]!.payload, version.payload) };
  }
  const kept = byClock.filter((v) => !byClock.some((w) => v.clock.compare(w.clock) === 'before'));
  kept.sort((a, b) => compareValues(a.clock.toData(), b.clock.toData()));
  return Object.freeze(kept);
}

export abstract class CausalLattice<T, P extends CausalPayload<T>> extends Lattice<readonly T[]> {
  // Not readonly only so `merge` can install its already-canonical result
  // without re-validating it; nothing else assigns it after construction.
  #versions: readonly Version<P>[];

  // `kind` is passed in because the subclass's own field is not set yet here.
  protected constructor(kind: LatticeKind, clock: VectorClock, payload: P) {
    super();
    if (!(clock instanceof VectorClock)) throw invalidArgument(kind, 'clock must be a VectorClock');
    this.#versions = Object.freeze([{ clock, payload }]);
  }

  /** A fresh instance of the concrete class, for `merge` to install its result in. */
  protected abstract blank(): this;
  protected abstract joinPayloads(a: P, b: P): P;
  protected abstract samePayload(a: P, b: P): boolean;

  protected get versionList(): readonly Version<P>[] {
    return this.#versions;
  }

  /** The join of every sibling's clock: everything this state has seen. */
  get clock(): VectorClock {
    return this.#versions.map((v) => v.clock).reduce((a, b) => a.merge(b));
  }

  /** Every sibling's values together, sorted by compareValues, no duplicates. */
  get values(): readonly T[] {
    if (this.#versions.length === 1) return this.#versions[0]!.payload.values;
    return this.#versions.map((v) => v.payload).reduce((a, b) => this.joinPayloads(a, b)).values;
  }

  merge(other: this): this {
    const merged = this.blank();
    merged.#versions = maximalVersions([...this.#versions, ...other.#versions], (a, b) => this.joinPayloads(a, b));
    return merged;
  }

  reveal(): readonly T[] {
    return this.values;
  }

  equals(other: this): boolean {
    const theirs = other.#versions;
    return (
      this.#versions.length === theirs.length &&
      this.#versions.every((v, i) => v.clock.equals(theirs[i]!.clock) && this.samePayload(v.payload, theirs[i]!.payload))
    );
  }
}
