// A commit's intent: filed by its committer before the first of its index
// entries, in the bucket of the time it is filed (time_buckets.ts:
// `__cb/intent/<start>/<shard>`, a map of transaction → its commit time and
// keys), so that the collector can find every commit, whoever made it, and
// finish it or leave it rolled back, then file its versions, record, index
// epochs and done mark for deletion. A serializable commit's intent also
// names the locks it seals and its seal tokens (`fence`), filed before it
// seals any, so the collector releases every sealed lock whose committer
// did not. Bucketed by the time it is filed, not
// the commit time: an exactly-once re-run commits at the time its first
// attempt was given, maybe long before, and must be collected after it.

import type { KvsClient } from '../../lib/client/kvs_client.js';
import { MapLattice, MaxIntLattice, SetLattice, type Lattice } from '../../lib/lattice/index.js';
import { TimeBuckets, type BucketTiming } from '../../lib/kvs/time_buckets.js';
import { RESERVED_PREFIX } from '../../lib/reserved_keys.js';
import type { Intent } from './roll_forward.js';

/**
 * How long after filing its intent a committer may still send index
 * entries: a committer that has not by then gives up (the call fails
 * with TransactionConflict), so a collector that comes later finds the
 * commit's index as it will stay.
 */
export const COMMIT_WINDOW_MS = 10_000;
/** How much later than the commit window the collector looks: clock skew between executors, and messages still in flight. */
export const COLLECT_MARGIN_MS = 20_000;

export const INTENT_TIMING: BucketTiming = {
  bucketMs: 1_000,
  shards: 8,
  delayMs: COMMIT_WINDOW_MS + COLLECT_MARGIN_MS,
  lookbackMs: 30 * 60_000,
  everyMs: 1_000,
  giveUpMs: 10 * 60_000,
};

export class CommitIntents {
  readonly buckets: TimeBuckets;

  constructor(
    private readonly kvs: KvsClient,
    timing: BucketTiming = INTENT_TIMING,
  ) {
    this.buckets = new TimeBuckets(`${RESERVED_PREFIX}intent/`, timing);
  }

  /** Files `intent` now (by `deadline` at the latest); resolves once the KVS holds it. */
  async record({ tx, ts, keys, fence }: Intent, deadline: number): Promise<void> {
    const now = Date.now();
    const entry = new MapLattice<Lattice>([
      ['ts', new MaxIntLattice(ts)],
      ['keys', new SetLattice(keys)],
      // Sets: two attempts of one transaction filing in one bucket merge to both tokens.
      ...(fence ? ([['locks', new SetLattice(fence.locks)], ['seals', new SetLattice(fence.seals)]] as [string, Lattice][]) : []),
    ]);
    await this.kvs.put(this.buckets.keyFor(tx, now, now), new MapLattice([[tx, entry]]), Math.min(deadline, this.buckets.filingDeadline(now)));
  }
}

/** The intents one stored bucket holds (entries of another shape are skipped). */
export function parseIntents(value: Lattice): Intent[] {
  if (!(value instanceof MapLattice)) return [];
  const found: Intent[] = [];
  for (const [tx, entry] of (value as MapLattice<Lattice>).entries()) {
    if (!(entry instanceof MapLattice)) continue;
    const fields = entry as MapLattice<Lattice>;
    const [ts, keys, locks, seals] = [fields.get('ts'), fields.get('keys'), fields.get('locks'), fields.get('seals')];
    if (!(ts instanceof MaxIntLattice && keys instanceof SetLattice)) continue;
    const intent: Intent = { tx, ts: ts.value, keys: [...(keys.reveal() as ReadonlySet<string>)] };
    if (locks instanceof SetLattice && seals instanceof SetLattice) {
      intent.fence = { locks: [...(locks.reveal() as ReadonlySet<string>)], seals: [...(seals.reveal() as ReadonlySet<string>)] };
    }
    found.push(intent);
  }
  return found;
}
