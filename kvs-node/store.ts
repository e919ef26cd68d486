// The shard's map of key → lattice. A put merges into what is there (so the
// order puts arrive in never matters) and refuses to mix lattice kinds.

import { mergeLattices, type Lattice } from '../lib/lattice/index.js';

export class LatticeStore {
  private readonly data = new Map<string, Lattice>();

  get(key: string): Lattice | undefined {
    return this.data.get(key);
  }

  /** Merges `value` into the key; returns the merged lattice. */
  put(key: string, value: Lattice): Lattice {
    const have = this.data.get(key);
    const merged = have ? mergeLattices(have, value) : value;
    this.data.set(key, merged);
    return merged;
  }

  delete(key: string): boolean {
    return this.data.delete(key);
  }

  get size(): number {
    return this.data.size;
  }
}
