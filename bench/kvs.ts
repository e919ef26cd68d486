// The KVS on its own: get and put of raw bytes from a client straight to a
// shard (client → shard → client; no router or executor on the path), divided
// by Redis SET/GET of the same bytes over ioredis. The shard is durable
// (`group`: a put is acknowledged once the batch it joined is fsynced), as a
// deployment runs it. The project's goal (the report's goal column) is ≥ 1.0× Redis throughput for
// 64 B gets and puts at 32 in flight. A second, memory-only cluster
// (`durability: 'none'`) on the same nats-server shows what the fsync costs.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MEMORY_SHARDS } from '../bin/local_cluster.js';
import { redisKeyValue, type KeyValueStore } from './baselines.js';
import { fmt, point, type BenchContext, type Measurement } from './harness.js';
import { ourStore, preload, sizeLabel } from './kvs_store.js';
import { row, type BenchReport, type Row } from './report.js';

/** Levels measured: 64 B values at all of them, for the report's throughput against concurrency; 4 KiB at the rows' levels only. */
const IN_FLIGHT = [1, 2, 4, 8, 16, 32, 64] as const;
type InFlight = (typeof IN_FLIGHT)[number];
/** Levels the rows read. */
const ROW_IN_FLIGHT: readonly InFlight[] = [1, 32];
const SIZES = [64, 4096] as const;
type Size = (typeof SIZES)[number];
const OPS = ['get', 'put'] as const;
type Op = (typeof OPS)[number];

/** Keys per value size; each op picks one at random. Preloaded, so every get finds a value. */
const KEYS = 10_000;

/** A store and the (size, level) points it is measured at. */
interface System {
  store: KeyValueStore;
  covers: (size: Size, inFlight: InFlight) => boolean;
}

/** Ours and Redis: 64 B values at every level, 4 KiB at the rows' levels. */
const sweep = (size: Size, inFlight: InFlight): boolean => size === 64 || ROW_IN_FLIGHT.includes(inFlight);

interface Kind {
  name: string;
  unit: string;
  pick: (m: Measurement) => number;
}

const KINDS: Kind[] = [
  { name: 'ops/s', unit: 'ops/s', pick: (m) => m.opsPerSec },
  { name: 'p50', unit: 'µs', pick: (m) => m.p50Us },
  { name: 'p99', unit: 'µs', pick: (m) => m.p99Us },
];

const metric = (op: Op, kind: Kind, size: Size, inFlight: InFlight): string => `${op} ${kind.name}, ${sizeLabel(size)}, ${inFlight} in flight`;

/** The goal: 64 B get and put throughput at 32 in flight, against Redis. */
const goalVsRedis = (kind: Kind, size: Size, inFlight: InFlight): string => (kind.name === 'ops/s' && size === 64 && inFlight === 32 ? '>= 1.0' : '-');

export async function run(ctx: BenchContext): Promise<BenchReport> {
  const { progress, teardown } = ctx;
  const notes: string[] = [];

  // Registered before the cluster, so it is removed after the shard has stopped.
  const dataDir = await mkdtemp(join(tmpdir(), 'cloudburst-bench-kvs-'));
  teardown.defer('shard data dir', () => rm(dataDir, { recursive: true, force: true }));

  const group = await ourStore(ctx, { name: 'ours', label: 'ours (group)', shards: { ...MEMORY_SHARDS, durability: 'group', dataDir }, prefix: 'cb' });
  // Same nats-server, another prefix: only the shard's durability differs.
  const none = await ourStore(ctx, { name: 'durability-none', label: 'ours (none)', shards: MEMORY_SHARDS, prefix: 'cbnone', nats: group.cluster.natsUrl });
  const redis = await redisKeyValue(teardown);
  if (redis?.durability) notes.push(`redis persistence: ${redis.durability} (a SET is acknowledged without an fsync unless appendfsync is always)`);
  if (!redis) {
    notes.push('no Redis answered on 127.0.0.1:6379 within 1 s; the Redis rows are left out');
    progress('redis: not reachable on 127.0.0.1:6379, skipping its rows');
  }

  const systems: System[] = [
    { store: group.store, covers: sweep },
    // The fsync's cost shows at the goal's point; elsewhere it would only add minutes.
    { store: none.store, covers: (size, inFlight) => size === 64 && inFlight === 32 },
    ...(redis ? [{ store: redis, covers: sweep }] : []),
  ];

  // One fixed value and key space per (store, size); gets find what the preload put.
  const values = new Map(SIZES.map((size) => [size, new Uint8Array(randomBytes(size))]));
  const keySpaces = new Map<string, string[]>();
  for (const { store, covers } of systems) {
    for (const size of SIZES.filter((s) => IN_FLIGHT.some((n) => covers(s, n)))) {
      const keys = Array.from({ length: KEYS }, (_, i) => `${store.keyPrefix}${size}:${i}`);
      keySpaces.set(`${store.name} ${size}`, keys);
      await preload(ctx, store, keys, values.get(size)!);
    }
  }

  const results = new Map<string, Measurement>();
  const id = (store: KeyValueStore, op: Op, size: Size, inFlight: InFlight): string => `${store.name} ${op} ${size} ${inFlight}`;
  // Level by level, and each (op, size) on every system back to back, so the
  // figures divided by each other were taken close in time.
  for (const inFlight of IN_FLIGHT) {
    for (const size of SIZES) {
      const value = values.get(size)!;
      for (const op of OPS) {
        for (const { store } of systems.filter((s) => s.covers(size, inFlight))) {
          const keys = keySpaces.get(`${store.name} ${size}`)!;
          const key = (): string => keys[Math.floor(Math.random() * KEYS)]!;
          const drive = op === 'get' ? () => store.get(key()) : () => store.put(key(), value);
          results.set(id(store, op, size, inFlight), await point(ctx, store.label, drive, inFlight, `${op} ${sizeLabel(size)}`));
        }
      }
    }
  }

  const rows: Row[] = [];
  const against = (base: KeyValueStore, goal: (kind: Kind, size: Size, inFlight: InFlight) => string): void => {
    for (const kind of KINDS) {
      for (const inFlight of [...ROW_IN_FLIGHT].reverse()) {
        for (const size of SIZES) {
          for (const op of OPS) {
            const baseline = results.get(id(base, op, size, inFlight));
            if (!baseline) continue;
            rows.push(
              row({
                metric: metric(op, kind, size, inFlight),
                unit: kind.unit,
                ours: kind.pick(results.get(id(group.store, op, size, inFlight))!),
                baseline: kind.pick(baseline),
                baselineName: base.name,
                goal: goal(kind, size, inFlight),
              }),
            );
          }
        }
      }
    }
  };
  if (redis) against(redis, goalVsRedis);
  against(none.store, () => '-');

  return {
    title:
      `kvs: get/put of random keys out of ${fmt(KEYS)} per value size, client → 1 shard (durability group, fsync per batch)` +
      `${redis ? ' vs redis SET/GET over ioredis' : ''}, and vs the same shard with durability none (64 B, 32 in flight);` +
      ` 64 B at ${IN_FLIGHT.join(', ')} in flight, 4 KiB at ${ROW_IN_FLIGHT.join(' and ')};` +
      ` ${ctx.warmupSeconds} s warmup + ${ctx.seconds} s per point, closed loop`,
    rows,
    notes,
  };
}
