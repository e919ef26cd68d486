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
import { readFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import type { NodeKind } from '../lib/actor/actor.js';
import { LocalCluster, MEMORY_SHARDS, memoryCluster } from '../bin/local_cluster.js';
import { NatsServerProcess } from '../bin/nats_server.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import { natsEcho } from './baselines.js';
import { fmt, measure, point, type BenchContext, type Measurement } from './harness.js';
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

/** Linux reports process CPU time in clock ticks of this many per second (USER_HZ, fixed by its ABI). */
const CLOCK_TICKS_PER_SEC = 100;

/** User + system CPU time of process `pid` so far, in µs (all its threads); 0 if it is gone. */
async function cpuMicrosOf(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at the 3rd; utime and stime are the 14th and 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS_PER_SEC;
  } catch {
    return 0;
  }
}

/** Processes by role ("router": [pid]); this process is always counted, as "client". */
type Roles = Record<string, number[]>;

async function cpuByRole(roles: Roles): Promise<Map<string, number>> {
  const own = process.cpuUsage();
  const byRole = new Map([['client', own.user + own.system]]);
  for (const [role, pids] of Object.entries(roles)) byRole.set(role, (await Promise.all(pids.map(cpuMicrosOf))).reduce((a, b) => a + b, 0));
  return byRole;
}

const pidsOf = (cluster: LocalCluster, kind: NodeKind): number[] => cluster.nodes.flatMap((n) => (n.kind === kind && n.process.pid !== undefined ? [n.process.pid] : []));

/** One step's point, with how busy the machine was and the CPU each role spent per operation meanwhile. */
interface Step {
  m: Measurement;
  busy: number;
  /** Core-µs per operation completed in the window, by role. */
  cpuPerOp: Map<string, number>;
}

async function measuredStep(ctx: BenchContext, label: string, op: () => Promise<unknown>, group: string, roles: Roles): Promise<Step> {
  // Warmup on its own, so the CPU counted is the measured window's alone.
  if (ctx.warmupSeconds > 0) await measure(op, { inFlight: IN_FLIGHT, durationMs: ctx.warmupSeconds * 1000 });
  const before = await cpuByRole(roles);
  const meter = cpuMeter();
  const m = await point({ ...ctx, warmupSeconds: 0 }, label, op, IN_FLIGHT, group);
  const busy = meter();
  const after = await cpuByRole(roles);
  const cpuPerOp = new Map([...after].map(([role, us]) => [role, (us - (before.get(role) ?? 0)) / Math.max(1, m.ops)]));
  return { m, busy, cpuPerOp };
}

const totalCpu = (s: Step): number => [...s.cpuPerOp.values()].reduce((a, b) => a + b, 0);
const cpuSplit = (s: Step): string => `${[...s.cpuPerOp].map(([role, us]) => `${role} ${Math.round(us)}`).join(', ')} (total ${Math.round(totalCpu(s))})`;

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

  const echoRoles: Roles = { 'nats-server': nats.pid === undefined ? [] : [nats.pid], 'echo responder': echo.pids ?? [] };
  const calls: Step[] = [];
  const echoAtExecutors: Step[] = [];
  for (const n of STEPS) {
    const since = Date.now();
    while (cluster.executors.length < n) await cluster.addExecutor();
    await membersHeard(client, 'executor', n, since);
    // Every executor loads the function before anything is measured: the first call of it on a worker fetches its code.
    await Promise.all(Array.from({ length: 8 * n }, noop));
    const group = plural(n, 'executor');
    const roles: Roles = { router: pidsOf(cluster, 'router'), executors: pidsOf(cluster, 'executor'), shard: pidsOf(cluster, 'kvs'), 'nats-server': echoRoles['nats-server']! };
    calls.push(await measuredStep(ctx, 'no-op call', noop, group, roles));
    echoAtExecutors.push(await measuredStep(ctx, echo.label, echo.op, group, echoRoles));
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
    const roles: Roles = { shards: pidsOf(ours.cluster, 'kvs'), router: pidsOf(ours.cluster, 'router'), 'nats-server': echoRoles['nats-server']! };
    kvsOps.get('get')!.push(await measuredStep(ctx, 'get 64 B', () => ours.store.get(key()), group, roles));
    kvsOps.get('put')!.push(await measuredStep(ctx, 'put 64 B', () => ours.store.put(key(), value), group, roles));
    echoAtShards.push(await measuredStep(ctx, echo.label, echo.op, group, echoRoles));
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
  // What an operation costs in CPU across every process it touches, against an echo round trip's: what scaling out has to provide.
  const cpuRows = (what: string, steps: Step[], echoes: Step[], unitOf: (n: number) => string): void =>
    steps.forEach((s, i) =>
      rows.push(
        row({ metric: `CPU per ${what}, all processes, ${unitOf(STEPS[i]!)}`, unit: 'core-µs', ours: totalCpu(s), baseline: totalCpu(echoes[i]!), baselineName: echo.name, goal: '-' }),
      ),
    );
  cpuRows('no-op call', calls, echoAtExecutors, (n) => plural(n, 'executor'));
  for (const op of OPS) cpuRows(`${op}, 64 B`, kvsOps.get(op)!, echoAtShards, (n) => plural(n, 'shard'));

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
    `CPU per operation (core-µs: user + system time from /proc over the measured window, ÷ operations completed in it; "client" is this bench process) by role.` +
      ` No-op call: ${calls.map((c, i) => `${plural(STEPS[i]!, 'executor')}: ${cpuSplit(c)}`).join('; ')}.` +
      ` Get 64 B: ${kvsOps.get('get')!.map((c, i) => `${plural(STEPS[i]!, 'shard')}: ${cpuSplit(c)}`).join('; ')}.` +
      ` Put 64 B: ${kvsOps.get('put')!.map((c, i) => `${plural(STEPS[i]!, 'shard')}: ${cpuSplit(c)}`).join('; ')}.` +
      ` Echo round trip (first step): ${cpuSplit(echoAtExecutors[0]!)}`,
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
