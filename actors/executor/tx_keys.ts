// Where a read-atomic transaction's pieces live in the KVS (transaction.ts
// says in which order a commit writes them), shared by the committer, the
// readers and the collector, which finds them from a commit's intent.

import { MapLattice, MaxIntLattice, SetLattice, type Lattice } from '../../lib/lattice/index.js';
import { RESERVED_PREFIX } from '../../lib/reserved_keys.js';

/** A transaction's version of one key: the key's whole state at its commit. */
export const versionKey = (tx: string, key: string): string => `${RESERVED_PREFIX}ver/${tx}/${key}`;
/** A transaction's commit record: its time and keys. */
export const commitKey = (tx: string): string => `${RESERVED_PREFIX}tx/${tx}`;
/** A key's version index for one epoch of commit time (transaction.ts, Epochs). */
export const indexKey = (key: string, epoch: number): string => `${RESERVED_PREFIX}idx/${key}/${epoch}`;
/**
 * Marks a key some transaction has written (set before its index entry; one
 * small key per key ever written atomically, kept): it holds the latest
 * epoch a commit indexed the key in.
 */
export const markKey = (key: string): string => `${RESERVED_PREFIX}idx/${key}/latest`;
/**
 * Set once a transaction's plain keys are all written (after them, by its
 * committer or by whoever finished it: a reader, the collector). Without
 * it, a transaction whose committer died after indexing it would lose its
 * writes once its index epoch ages out of readers' reach, since the plain
 * keys are then all that is left of it.
 */
export const doneKey = (tx: string): string => `${RESERVED_PREFIX}tx/${tx}/done`;
export const DONE = new MaxIntLattice(1);

/** The index epoch of commit time `tsUs` (µs) for epochs of `epochMs`. */
export const epochOf = (tsUs: number, epochMs: number): number => Math.floor(tsUs / (epochMs * 1000));

export interface Commit {
  ts: number;
  keys: string[];
}

/** A transaction as a key's index lists it: when it committed, what it wrote, and its version of the key. */
export interface Indexed extends Commit {
  version: Lattice;
}

export const indexEntry = (ts: number, keys: string[], version: Lattice): MapLattice<Lattice> =>
  new MapLattice<Lattice>([
    ['ts', new MaxIntLattice(ts)],
    ['keys', new SetLattice(keys)],
    ['version', version],
  ]);

export function parseIndexEntry(entry: Lattice): Indexed | undefined {
  if (!(entry instanceof MapLattice)) return undefined;
  const [ts, keys, version] = (['ts', 'keys', 'version'] as const).map((field) => (entry as MapLattice<Lattice>).get(field));
  if (!(ts instanceof MaxIntLattice) || !(keys instanceof SetLattice) || !version) return undefined;
  return { ts: ts.value, keys: [...(keys.reveal() as ReadonlySet<string>)], version };
}
