// Our KVS as a bench drives it: a cluster of shards (no executors) and a
// client sending each get and put straight to the shard that holds the key,
// wrapped as a KeyValueStore like the Redis baseline; and the preload that
// writes a key space before anything is measured, so every get finds a value.

import { LocalCluster, type LocalClusterOptions } from '../bin/local_cluster.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import type { KeyValueStore } from './baselines.js';
import { fmt, measure, type BenchContext } from './harness.js';

/** Outstanding puts while preloading. */
const PRELOAD_IN_FLIGHT = 64;

/** "64 B", "4 KiB". */
export const sizeLabel = (bytes: number): string => (bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`);

export interface OurStoreOptions {
  /** Written into rows as baselineName. */
  name: string;
  /** Said in progress lines. */
  label: string;
  shards: LocalClusterOptions['shards'];
  prefix: string;
  /** Shards to start. Default 1. */
  kvs?: number;
  /** Use this NATS instead of starting a private nats-server. */
  nats?: string;
}

/**
 * A cluster with `kvs` shards, one router (which answers status) and no
 * executors, and a client of it; both stopped at teardown, or earlier by
 * `stop()`.
 */
export async function ourStore(
  ctx: BenchContext,
  opts: OurStoreOptions,
): Promise<{ store: KeyValueStore; cluster: LocalCluster; client: Cloudburst; stop: () => Promise<void> }> {
  const { name, label, shards, prefix, kvs = 1, nats } = opts;
  const cluster = await LocalCluster.start({
    ...(nats ? { nats } : {}),
    kvs,
    executors: 0,
    routers: 1,
    threads: 1,
    shards,
    prefix,
    logLevel: 'warn',
    onProgress: (line) => ctx.progress(`${label} cluster: ${line}`),
  });
  const stopCluster = ctx.teardown.deferOnce(`${label} cluster`, () => cluster.stop());
  const client = await Cloudburst.connect({ servers: cluster.natsUrl, prefix, timeoutMs: 10_000 });
  const closeClient = ctx.teardown.deferOnce(`${label} client`, () => client.close());
  const store: KeyValueStore = {
    name,
    label,
    keyPrefix: 'bench-kvs:',
    get: (key) => client.get(key),
    put: (key, value) => client.put(key, value),
  };
  return { store, cluster, client, stop: () => closeClient().then(stopCluster) };
}

/** Writes every key of `keys` once (closed loop, PRELOAD_IN_FLIGHT outstanding), then reads one back. */
export async function preload(ctx: BenchContext, store: KeyValueStore, keys: string[], value: Uint8Array): Promise<void> {
  let next = 0;
  // Keys are handed out in order and every started put completes, so
  // counting KEYS completions means every key was written at least once.
  const m = await measure(() => store.put(keys[next++ % keys.length]!, value), { inFlight: PRELOAD_IN_FLIGHT, ops: keys.length });
  ctx.progress(`${store.label}: preloaded ${fmt(keys.length)} keys of ${sizeLabel(value.length)} at ${fmt(m.opsPerSec)} ops/s`);
  const back = await store.get(keys[keys.length - 1]!);
  if (!(back instanceof Uint8Array) || Buffer.compare(back, value) !== 0) {
    throw new Error(`${store.label} answered a get of a preloaded key with something other than the bytes put`);
  }
}
