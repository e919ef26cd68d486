// Anna's MapLattice: string keys to lattices, merged key by key. A key present
// on one side only is kept; a key on both sides merges its two lattices, which
// must be of one kind (else LatticeTypeMismatch: there is no join of a set and
// a counter).

import { LatticeTypeMismatch } from '../errors.js';
import { Lattice, mergeLattices } from './lattice.js';
import { decodeWith, expectArray, invalidArgument, typeName } from './validate.js';

export class MapLattice<V extends Lattice = Lattice> extends Lattice<ReadonlyMap<string, unknown>> {
  readonly kind = 'map';
  readonly #entries: ReadonlyMap<string, V>;

  constructor(entries: Iterable<readonly [string, V]> = []) {
    super();
    const map = new Map<string, V>();
    for (const entry of entries) {
      const pair: unknown = entry;
      if (!Array.isArray(pair) || pair.length !== 2) throw invalidArgument('map', 'entries must be [key, lattice] pairs');
      const [key, value] = pair as unknown[];
      if (typeof key !== 'string') throw invalidArgument('map', `keys must be strings, got ${typeName(key)}`);
      if (!(value instanceof Lattice)) throw invalidArgument('map', `the value under "${key}" is not a lattice`);
      // Two values for one key would silently pick one; the caller should say which.
      if (map.has(key)) throw invalidArgument('map', `key "${key}" appears twice`);
      map.set(key, value as V);
    }
    this.#entries = map;
  }

  /** Expects nested values already decoded into lattice instances (the codec does this). */
  static fromData(data: unknown): MapLattice {
    return decodeWith('map', () => new MapLattice(expectArray('map', data, 'entries') as [string, Lattice][]));
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): V | undefined {
    return this.#entries.get(key);
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  keys(): string[] {
    return [...this.#entries.keys()].sort();
  }

  /** The [key, lattice] pairs in no set order: for readers that look at every one and need no sort. */
  entries(): IterableIterator<[string, V]> {
    return this.#entries.entries();
  }

  merge(other: this): this {
    const merged = new Map<string, V>(this.#entries);
    for (const [key, theirs] of other.#entries) {
      const ours = merged.get(key);
      merged.set(key, ours === undefined ? theirs : mergeAt(key, ours, theirs));
    }
    return new MapLattice<V>(merged) as this;
  }

  reveal(): ReadonlyMap<string, unknown> {
    return new Map([...this.#entries].map(([key, value]) => [key, value.reveal()]));
  }

  equals(other: this): boolean {
    if (this.#entries.size !== other.#entries.size) return false;
    for (const [key, ours] of this.#entries) {
      const theirs = other.#entries.get(key);
      if (theirs === undefined || ours.kind !== theirs.kind || !ours.equals(theirs)) return false;
    }
    return true;
  }

  /** Sorted [key, lattice] pairs; the codec encodes the nested lattices. */
  toData(): [string, V][] {
    return this.keys().map((key) => [key, this.#entries.get(key)!]);
  }
}

// Names the key in the error, since "cannot merge a set into a lww" alone does
// not say where in a large map the conflict is.
function mergeAt<V extends Lattice>(key: string, ours: V, theirs: V): V {
  try {
    return mergeLattices(ours, theirs);
  } catch (err) {
    if (!(err instanceof LatticeTypeMismatch)) throw err;
    throw new LatticeTypeMismatch(`map key "${key}": ${err.message}`, { cause: err, data: { ...err.data, key } });
  }
}
