// The one shared shape of every lattice (as Anna's base_lattices.hpp): a value
// that can only grow by `merge`, which is associative, commutative and
// idempotent, so replicas and caches converge whatever order merges arrive in.
// Lattices are immutable: `merge` returns a new lattice and never changes
// either input, so a value handed to a caller can never change under it.

import { LatticeTypeMismatch } from '../errors.js';

/** The name of each lattice type; also what travels in errors and the CLI. */
export type LatticeKind =
  | 'lww'
  | 'set'
  | 'ordered-set'
  | 'map'
  | 'max-int'
  | 'bool'
  | 'vector-clock'
  | 'single-causal'
  | 'multi-causal'
  | 'priority';

export abstract class Lattice<T = unknown> {
  /** Which lattice type this is; two lattices merge only when kinds match. */
  abstract readonly kind: LatticeKind;

  /** The join of `this` and `other`, as a new lattice. Inputs are unchanged. */
  abstract merge(other: this): this;

  /** The plain value the lattice stands for, as a user reads it. */
  abstract reveal(): T;

  /** True when both hold the same state (so a merge of them changes nothing). */
  abstract equals(other: this): boolean;

  /** Plain CBOR-encodable data the codec writes under this kind's tag. */
  abstract toData(): unknown;
}

/** Merges two lattices of any kind, refusing to join different kinds. */
export function mergeLattices<L extends Lattice>(a: L, b: L): L {
  if (a.kind !== b.kind) {
    throw new LatticeTypeMismatch(`cannot merge a ${b.kind} lattice into a ${a.kind} lattice`, {
      data: { have: a.kind, got: b.kind },
    });
  }
  return a.merge(b);
}
