// Merge dissemination to caches (Cloudburst's cache refresh): a cache asks
// the replicas of a key to tell it of merges, for a while (a lease it
// renews). The key's primary replica publishes each merged value on the
// key's bucket subject; caches subscribe to the buckets they need, so NATS
// interest does the fan-out and a dead cache costs nothing once its lease
// runs out.

import { hash32 } from './hash_ring.js';

/** Buckets of the update subjects; a cache subscribes per bucket, not per key. */
export const UPDATE_BUCKETS = 1024;

/** How long a watch lasts unless renewed. */
export const DEFAULT_WATCH_TTL_MS = 30_000;

export const KVS_UPDATES = 'updates';

export function bucketOf(key: string): number {
  return hash32(key) % UPDATE_BUCKETS;
}
