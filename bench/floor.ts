// The floor: what a call costs when the function does nothing, so everything
// measured is platform (client → router → executor → worker thread → client).
// Divided by a raw NATS request/reply echo, the least any call over NATS can
// cost, and by a Redis GET as a second, familiar yardstick. The goals
// are ≥ 0.5× echo throughput at 32 in flight and ≤ 3× echo p50 at 1.

import { LocalCluster, memoryCluster } from '../bin/local_cluster.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import { natsEcho, redisGet, type Baseline } from './baselines.js';
import { point, type BenchContext, type Measurement } from './harness.js';
import { row, type BenchReport, type Row } from './report.js';

/** Levels measured: the rows read 1 and 32; the rest draw throughput against concurrency in the report. */
const IN_FLIGHT = [1, 2, 4, 8, 16, 32, 64] as const;
type InFlight = (typeof IN_FLIGHT)[number];

const PAYLOAD_BYTES = 64;

interface RowSpec {
  metric: string;
  unit: string;
  inFlight: InFlight;
  pick: (m: Measurement) => number;
  /** Goal against the NATS echo; rows against other baselines are informational. */
  goalVsEcho: string;
}

const opsPerSec = (m: Measurement): number => m.opsPerSec;
const p50 = (m: Measurement): number => m.p50Us;
const p99 = (m: Measurement): number => m.p99Us;

const ROWS: RowSpec[] = [
  { metric: 'no-op call ops/s, 32 in flight', unit: 'ops/s', inFlight: 32, pick: opsPerSec, goalVsEcho: '>= 0.5' },
  { metric: 'no-op call p50, 1 in flight', unit: 'µs', inFlight: 1, pick: p50, goalVsEcho: '<= 3' },
  { metric: 'no-op call p99, 1 in flight', unit: 'µs', inFlight: 1, pick: p99, goalVsEcho: '-' },
  { metric: 'no-op call ops/s, 1 in flight', unit: 'ops/s', inFlight: 1, pick: opsPerSec, goalVsEcho: '-' },
  { metric: 'no-op call p99, 32 in flight', unit: 'µs', inFlight: 32, pick: p99, goalVsEcho: '-' },
];

export async function run(ctx: BenchContext): Promise<BenchReport> {
  const { progress, teardown } = ctx;
  const notes: string[] = [];

  const cluster = await LocalCluster.start(memoryCluster({ onProgress: (line) => progress(`cluster: ${line}`) }));
  teardown.defer('local cluster', () => cluster.stop());

  const echo = await natsEcho(cluster.natsUrl, teardown, PAYLOAD_BYTES);
  const redis = await redisGet(teardown, PAYLOAD_BYTES);
  if (!redis) {
    notes.push('no Redis answered on 127.0.0.1:6379 within 1 s; the Redis rows are left out');
    progress('redis: not reachable on 127.0.0.1:6379, skipping its rows');
  }

  const client = await Cloudburst.connect({ servers: cluster.natsUrl, timeoutMs: 10_000 });
  teardown.defer('cloudburst client', () => client.close());
  await client.register('noop', async () => null);
  // The first call fetches the code from the KVS and loads it in a worker:
  // real, but a one-off, not the floor.
  await client.call('noop', []);
  const ours: Baseline = { name: 'ours', label: 'no-op call', op: () => client.call('noop', []) };

  const systems = [ours, echo, ...(redis ? [redis] : [])];
  const results = new Map<Baseline, Map<InFlight, Measurement>>(systems.map((s) => [s, new Map()]));
  // Level by level, so the figures divided by each other were taken close in time.
  for (const inFlight of IN_FLIGHT) {
    for (const system of systems) results.get(system)!.set(inFlight, await point(ctx, system.label, system.op, inFlight));
  }

  const at = (system: Baseline, inFlight: InFlight): Measurement => results.get(system)!.get(inFlight)!;
  const rowsAgainst = (base: Baseline): Row[] =>
    ROWS.map((spec) =>
      row({
        metric: spec.metric,
        unit: spec.unit,
        ours: spec.pick(at(ours, spec.inFlight)),
        baseline: spec.pick(at(base, spec.inFlight)),
        baselineName: base.name,
        goal: base === echo ? spec.goalVsEcho : '-',
      }),
    );

  return {
    title:
      `floor: no-op function call (1 kvs, 1 executor × 2 threads, 1 router) vs ${echo.label} (responder in its own process)` +
      `${redis ? ` and ${redis.label}` : ''}, at ${IN_FLIGHT.join(', ')} in flight; ${ctx.warmupSeconds} s warmup + ${ctx.seconds} s per point, closed loop`,
    rows: [...rowsAgainst(echo), ...(redis ? rowsAgainst(redis) : [])],
    notes,
  };
}
