// Finishing a commit that may have been left half done (its committer died,
// or gave up, between indexing it and writing its plain keys), for a reader
// that reads an old version of it and for the collector, which looks at
// every commit's intent. What a commit wrote decides:
//   - marked done: nothing to do;
//   - no index entry on any of its keys: no reader can have seen it, and
//     its committer (past its commit window) will not index it any more: it
//     is left unseen, rolled back (its versions and record are deleted
//     with the rest after retention);
//   - an index entry on some key: it is rolled forward, with its version of
//     each key (from that key's index entry, else from its version copy;
//     the copies are all written before any index entry): every key's index
//     entry again (the committer may have died between two, and a plain key
//     must never hold a write its index lacks), then each version merged
//     into the plain key, then the done mark. A version is the key's state
//     at the commit, stamped with the commit's place in the order of
//     transactions, so writing it again changes nothing a later commit
//     wrote, and two finishers at once are harmless.
// A copy is deleted only after the collector has dealt with the commit's
// intent (it files the deletes then), so an indexed commit whose copy is
// gone was finished (or found done) by the collector: nothing is left to do.

import type { KvsClient } from '../../lib/client/kvs_client.js';
import { MapLattice, type Lattice } from '../../lib/lattice/index.js';
import { DONE, doneKey, epochOf, indexEntry, indexKey, parseIndexEntry, versionKey, type Commit } from './tx_keys.js';

/** How long one roll-forward may take. */
export const FINISH_TIMEOUT_MS = 10_000;

/** A commit as its intent names it. */
export interface Intent extends Commit {
  tx: string;
  /**
   * A serializable commit's fence: the data keys whose locks it sealed
   * (read-only ones too; the lock owner is `tx`) and the seal tokens of its
   * attempts, which the collector releases once it has dealt with the
   * commit (lib/kvs/locks.ts, `seal`).
   */
  fence?: Fence;
}

export interface Fence {
  locks: string[];
  seals: string[];
}

/** What rollForward found: done already; finished now; never indexed (rolled back); indexed, and a version of it already deleted. */
export type RollOutcome = 'done' | 'finished' | 'unindexed' | 'gone';

/**
 * Finishes `intent` unless it is done or was never indexed. `seen`: a
 * version a reader read from the index, so the commit is indexed and that
 * key's version need not be fetched.
 */
export async function rollForward(
  kvs: KvsClient,
  epochMs: number,
  { tx, ts, keys }: Intent,
  deadline: number,
  seen?: { key: string; version: Lattice },
): Promise<RollOutcome> {
  if ((await kvs.get(doneKey(tx), { deadline })) !== undefined) return 'done';
  const epoch = epochOf(ts, epochMs);
  // Asked of every replica: an entry one replica misses must not make an indexed commit look unindexed.
  const listed = seen
    ? keys.map((k) => (k === seen.key ? seen.version : undefined))
    : await Promise.all(
        keys.map(async (k) => {
          const index = await kvs.get(indexKey(k, epoch), { deadline, all: true });
          const entry = index instanceof MapLattice ? (index as MapLattice<Lattice>).get(tx) : undefined;
          return entry && parseIndexEntry(entry)?.version;
        }),
      );
  if (listed.every((v) => v === undefined)) return 'unindexed';
  const versions = await Promise.all(
    keys.map((k, i) => (listed[i] !== undefined ? Promise.resolve(listed[i]) : keys.length > 1 ? kvs.get(versionKey(tx, k), { deadline, all: true }) : Promise.resolve(undefined))),
  );
  if (versions.some((v) => v === undefined)) return 'gone';
  await Promise.all(keys.map((k, i) => kvs.put(indexKey(k, epoch), new MapLattice([[tx, indexEntry(ts, keys, versions[i]!)]]), deadline)));
  await Promise.all(keys.map((k, i) => kvs.put(k, versions[i]!, deadline)));
  await kvs.put(doneKey(tx), DONE, deadline);
  return 'finished';
}
