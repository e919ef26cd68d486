// Throughput as processes are added, on this one machine:
//   - executors (1, 2, 3; one shard, one router) under no-op calls;
//   - KVS shards (1, 2, 3; memory only, replication 1, so each key lives on
//     one shard) under 64 B gets and puts from one client;
// each step beside a raw NATS echo through the same nats-server, measured in
// the same run. Every process shares the machine's cores, so on a small
// machine this shows what coordinating more processes costs more than what
// they add; the notes say how busy the machine was. docs/scaling.md models
// scaling out across machines from these per-process figures.

import { randomBytes } from 'node:crypto';
import { availableParallelism, cpus } from 'node:os';
import { LocalCluster, MEMORY_SHARDS, memoryCluster } from '../bin/local_cluster.js';
import { NatsServerProcess } from '../bin/nats_server.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import { natsEcho } from './baselines.js';
import { fmt, point, type BenchContext, type Measurement } from './harness.js';
import { ourStore, preload } from './kvs_store.js';
import { membersHeard } from './members.js';
import { row, type BenchReport, type Row, type Series, type SeriesLine } from './report.js';

/** Executors, then shards, added one at a time. */
const STEPS = [1, 2, 3] as const;
const IN_FLIGHT = 32;
const PAYLOAD_BYTES = 64;
/** Keys of the shard points; each op picks one at random. */
const KEYS = 10_000;
const OPS = ['get', 'put'] as const;
type Op = (typeof OPS)[number];

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

/** Share of the machine's CPU time spent busy (not idle) from now until the returned function is called, all cores together. */
function cpuMeter(): () => number {
  const sample = (): { busy: number; total: number } => {
    let busy = 0;
    let total = 0;
    for (const { times } of cpus()) {
      const all = times.user + times.nice + times.sys + times.irq + times.idle;
      total += all;
      busy += all - times.idle;
    }
    return { busy, total };
  };
  const start = sample();
  return () => {
    const end = sample();
    return end.total > start.total ? (end.busy - start.busy) / (end.total - start.total) : NaN;
  };
}

/** One step's point, with how busy the machine was meanwhile. */
interface Step {
  m: Measurement;
  busy: number;
}

async function measuredStep(ctx: BenchContext, label: string, op: () => Promise<unknown>, group: string): Promise<Step> {
  const busy = cpuMeter();
  const m = await point(ctx, label, op, IN_FLIGHT, group);
  return { m, busy: busy() };
}

/** ops/s at each step as a plot line. */
const lineOf = (label: string, steps: Step[]): SeriesLine => ({ label, points: steps.map((s, i) => [STEPS[i]!, Math.round(s.m.opsPerSec)]) });

/** What linear scaling from the first step would give: n × its throughput. */
const idealOf = (label: string, steps: Step[]): SeriesLine => ({
  label: `ideal: n × ${label} at 1`,
  points: STEPS.map((n) => [n, Math.round(n * steps[0]!.m.opsPerSec)]),
  derivedFrom: label,
});

const percent = (steps: Step[]): string => steps.map((s, i) => `${STEPS[i]}: ${Math.round(s.busy * 100)}%`).join(', ');

export async function run(ctx: BenchContext): Promise<BenchReport> {
  const { progress, teardown } = ctx;
  const notes: string[] = [];

  // One nats-server for every step, so the echo baseline crosses the same server throughout.
  progress('starting nats-server');
  const nats = await NatsServerProcess.start();
  teardown.defer('nats-server', () => nats.stop());
  const echo = await natsEcho(nats.url, teardown, PAYLOAD_BYTES);

  // --- executors: one cluster, one more executor per step ---
  const cluster = await LocalCluster.start(memoryCluster({ nats: nats.url, prefix: 'cbscale', onProgress: (line) => progress(`executor cluster: ${line}`) }));
  const stopCluster = teardown.deferOnce('executor cluster', () => cluster.stop());
  const client = await Cloudburst.connect({ servers: nats.url, prefix: cluster.prefix, timeoutMs: 10_000 });
  const closeClient = teardown.deferOnce('executor cluster client', () => client.close());
  await client.register('noop', async () => null);
  const noop = (): Promise<unknown> => client.call('noop', []);

  const calls: Step[] = [];
  const echoAtExecutors: Step[] = [];
  for (const n of STEPS) {
    const since = Date.now();
    while (cluster.executors.length < n) await cluster.addExecutor();
    await membersHeard(client, 'executor', n, since);
    // Every executor loads the function before anything is measured: the first call of it on a worker fetches its code.
    await Promise.all(Array.from({ length: 8 * n }, noop));
    const group = plural(n, 'executor');
    calls.push(await measuredStep(ctx, 'no-op call', noop, group));
    echoAtExecutors.push(await measuredStep(ctx, echo.label, echo.op, group));
  }
  await closeClient();
  await stopCluster();

  // --- shards: a fresh cluster per step, so keys are spread over exactly n shards ---
  const value = new Uint8Array(randomBytes(PAYLOAD_BYTES));
  const kvsOps = new Map<Op, Step[]>(OPS.map((op) => [op, []]));
  const echoAtShards: Step[] = [];
  for (const n of STEPS) {
    const prefix = `cbscale${n}`;
    const ours = await ourStore(ctx, { name: 'ours', label: plural(n, 'shard'), shards: MEMORY_SHARDS, prefix, kvs: n, nats: nats.url });
    // The client follows shard heartbeats from its connect on; once the router has heard every shard since then, so has the client's ring.
    await membersHeard(ours.client, 'kvs', n, Date.now());
    const keys = Array.from({ length: KEYS }, (_, i) => `${ours.store.keyPrefix}${i}`);
    await preload(ctx, ours.store, keys, value);
    const key = (): string => keys[Math.floor(Math.random() * KEYS)]!;
    const group = plural(n, 'shard');
    kvsOps.get('get')!.push(await measuredStep(ctx, 'get 64 B', () => ours.store.get(key()), group));
    kvsOps.get('put')!.push(await measuredStep(ctx, 'put 64 B', () => ours.store.put(key(), value), group));
    echoAtShards.push(await measuredStep(ctx, echo.label, echo.op, group));
    await ours.stop();
  }

  // --- rows: each step against the echo of the same step, and against the first step ---
  const rows: Row[] = [];
  const rowsOf = (metricOf: (n: number) => string, steps: Step[], echoes: Step[], firstName: string): void => {
    steps.forEach((s, i) => {
      const metric = metricOf(STEPS[i]!);
      rows.push(row({ metric, unit: 'ops/s', ours: s.m.opsPerSec, baseline: echoes[i]!.m.opsPerSec, baselineName: echo.name, goal: '-' }));
      if (i > 0) rows.push(row({ metric, unit: 'ops/s', ours: s.m.opsPerSec, baseline: steps[0]!.m.opsPerSec, baselineName: firstName, goal: '-' }));
    });
  };
  rowsOf((n) => `no-op call ops/s, ${IN_FLIGHT} in flight, ${plural(n, 'executor')}`, calls, echoAtExecutors, '1 executor');
  for (const op of OPS) rowsOf((n) => `${op} ops/s, 64 B, ${IN_FLIGHT} in flight, ${plural(n, 'shard')}`, kvsOps.get(op)!, echoAtShards, '1 shard');

  const series: Series[] = [
    {
      title: `no-op calls against executors (1 shard, 1 router, ${IN_FLIGHT} in flight)`,
      xLabel: 'executors (2 worker threads each)',
      yLabel: 'ops/s',
      lines: [lineOf('no-op call', calls), lineOf(echo.label, echoAtExecutors), idealOf('no-op call', calls)],
    },
    {
      title: `KVS 64 B gets and puts against shards (memory, replication 1, ${IN_FLIGHT} in flight)`,
      xLabel: 'KVS shards',
      yLabel: 'ops/s',
      lines: [
        ...OPS.map((op) => lineOf(`${op} 64 B`, kvsOps.get(op)!)),
        lineOf(echo.label, echoAtShards),
        ...OPS.map((op) => idealOf(`${op} 64 B`, kvsOps.get(op)!)),
      ],
    },
  ];

  const cores = availableParallelism();
  notes.push(
    `one machine, ${cores} cpus: nats-server, the router, the shards, every executor and its worker threads, the echo responder and this bench's client all share them.` +
      ` Machine CPU busy (every process on it, this bench's and any other work) during the no-op points, by executors: ${percent(calls)};` +
      ` during the get points, by shards: ${percent(kvsOps.get('get')!)}.` +
      ` Where the cores are already busy, another process can only take turns on them: these steps show what running more processes costs` +
      ` (more heartbeats, more subjects, the load split by the router or the hash ring), not the capacity each adds on a machine of its own;` +
      ` and while other work shares the machine, more processes also win a larger share of the cores from it, which can look like scaling.` +
      ` docs/scaling.md models throughput across machines from the per-process figures here`,
    `the echo is measured at every step, so its line shows how far the machine's pace moved between steps: ${echoAtExecutors
      .concat(echoAtShards)
      .map((s) => fmt(s.m.opsPerSec))
      .join(', ')} ops/s`,
    `executors are added to one running cluster (each waits until the router has heard it); shards are a fresh cluster per step, memory only,` +
      ` replication 1 (each key on one shard), ${fmt(KEYS)} keys of 64 B preloaded, random keys; gets and puts go from the client straight to the shard holding the key`,
  );

  return {
    title:
      `scale: no-op call throughput with 1, 2, 3 executors (× 2 threads; 1 shard, 1 router) and KVS 64 B get/put throughput with 1, 2, 3 shards,` +
      ` each step beside ${echo.label} through the same nats-server; ${IN_FLIGHT} in flight; ${ctx.warmupSeconds} s warmup + ${ctx.seconds} s per point, closed loop`,
    rows,
    notes,
    series,
  };
}
