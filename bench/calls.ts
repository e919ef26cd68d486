// Function calls, each figure divided by a baseline measured in the same run
// (goals in bench/README.md):
//   - a no-op call (throughput at 32 in flight, p50 at 1) and the 2-function
//     DAG square(increment(x)) (p50 at 1), against a raw NATS echo;
//   - a function summing a 1 MiB value it reads from the executor's
//     shared-memory cache, against reading the value from Redis and summing
//     it in this process;
//   - calls on 10 different 1 MiB objects (by `ref`) across 3 executors,
//     placed for locality against placed at random (informational);
//   - the executor's resident memory when idle, against its budget.

import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { LocalCluster, MEMORY_SHARDS } from '../bin/local_cluster.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import { EXECUTOR_DEFAULTS, routerConfig, type RouterConfig } from '../lib/config.js';
import { ref } from '../lib/reference.js';
import { RouterNode } from '../router/router_node.js';
import { natsEcho, redisGetBytes, type Baseline } from './baselines.js';
import { membersHeard } from './members.js';
import { fmt, measure, point, type BenchContext, type Measurement } from './harness.js';
import { row, type BenchReport, type Row } from './report.js';

const IN_FLIGHT = [1, 32] as const;
type InFlight = (typeof IN_FLIGHT)[number];
type Placement = RouterConfig['placement'];

/** Echo payload: about what a no-op call message weighs. */
const PAYLOAD_BYTES = 64;
/** Worker threads per executor, in both clusters. */
const THREADS = 2;
const MiB = 1024 * 1024;
const BLOB_BYTES = MiB;
const BLOB_KEY = 'bench-calls:blob';
/** Objects of the locality points, each BLOB_BYTES; every executor's cache can hold all of them. */
const OBJECTS = 10;
const LOCALITY_EXECUTORS = 3;
const LOCALITY_PREFIX = 'cbloc';
const DAG = 'square-of-increment';
const DAG_X = 3;
/** Each executor's cache budget: LocalCluster leaves it at the default. */
const CACHE_BYTES = EXECUTOR_DEFAULTS.cacheBytes;
/** The project's goal: an idle executor stays within this much RSS plus its cache budget. */
const IDLE_RSS_BYTES = 100e6;

const opsPerSec = (m: Measurement): number => m.opsPerSec;
const p50 = (m: Measurement): number => m.p50Us;

/** The summing every 1 MiB side runs: shipped as source into functions, called as is by the Redis baseline. */
function sumBytes(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) sum += bytes[i]!;
  return sum;
}

/** Module source of a function whose default export is `body`, with sumBytes in scope. */
const sumModule = (body: string): string => `const sumBytes = ${sumBytes.toString()};\nexport default ${body};\n`;
/** Reads the value itself: a worker's cb.get is a read of the shared-memory cache. */
const SUM_CACHED = sumModule(`async (cb) => sumBytes(await cb.get(${JSON.stringify(BLOB_KEY)}))`);
/** Takes the value as an argument: `ref(key)`, which the executor resolves through its cache. */
const SUM_ARG = sumModule('async (_cb, bytes) => sumBytes(bytes)');

async function startCluster(ctx: BenchContext, label: string, opts: { nats?: string; prefix: string; executors: number; routers: number }): Promise<{ cluster: LocalCluster; client: Cloudburst }> {
  const cluster = await LocalCluster.start({
    ...(opts.nats ? { nats: opts.nats } : {}),
    kvs: 1,
    executors: opts.executors,
    routers: opts.routers,
    threads: THREADS,
    shards: MEMORY_SHARDS,
    prefix: opts.prefix,
    logLevel: 'warn',
    onProgress: (line) => ctx.progress(`${label}: ${line}`),
  });
  ctx.teardown.defer(label, () => cluster.stop());
  const client = await Cloudburst.connect({ servers: cluster.natsUrl, prefix: opts.prefix, timeoutMs: 10_000 });
  ctx.teardown.defer(`${label} client`, () => client.close());
  return { cluster, client };
}

/** Fails unless `got` is `want`: numbers from wrong answers measure nothing. */
function check(what: string, got: unknown, want: unknown): void {
  if (got !== want) throw new Error(`${what} returned ${String(got)}, not ${String(want)}`);
}

/** Gets the executors answered from the KVS (not their cache), summed, as of a heartbeat sent after now. */
async function cacheMisses(client: Cloudburst, executors: number): Promise<number> {
  const members = await membersHeard(client, 'executor', executors, Date.now());
  return members.reduce((sum, m) => sum + (typeof m['cacheMisses'] === 'number' ? m['cacheMisses'] : 0), 0);
}

/** Resident set of process `pid` in bytes, or undefined where /proc does not say. */
async function rssBytes(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const kb = /^VmRSS:\s+(\d+)\s+kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** A router in this process with `placement`, the only one of its cluster while it runs; stop it before starting the next. */
async function startRouter(ctx: BenchContext, nats: string, placement: Placement): Promise<{ stop: () => Promise<void> }> {
  const router = await RouterNode.create(routerConfig({ nats, prefix: LOCALITY_PREFIX, placement, logLevel: 'warn' }));
  await router.start();
  return { stop: ctx.teardown.deferOnce(`${placement} router`, () => router.stop()) };
}

export async function run(ctx: BenchContext): Promise<BenchReport> {
  const { progress, teardown } = ctx;
  const notes: string[] = [];

  // --- calls and the cached value: 1 kvs, 1 executor, 1 router, as `floor` ---
  const { cluster, client } = await startCluster(ctx, 'cluster', { prefix: 'cb', executors: 1, routers: 1 });
  const echo = await natsEcho(cluster.natsUrl, teardown, PAYLOAD_BYTES);

  await client.register('noop', async () => null);
  await client.register('increment', async (_cb, x: number) => x + 1);
  await client.register('square', async (_cb, x: number) => x * x);
  await client.registerDag(DAG, ['increment', 'square'], [['increment', 'square']]);
  await client.register('sum-cached', SUM_CACHED);
  await client.register('sum-arg', SUM_ARG);
  const blob = new Uint8Array(randomBytes(BLOB_BYTES));
  const blobSum = sumBytes(blob);
  await client.put(BLOB_KEY, blob);

  const redisSum = await redisGetBytes(teardown, 'blob', blob, { label: 'sum', use: sumBytes });
  if (!redisSum) {
    notes.push('no Redis answered on 127.0.0.1:6379 within 1 s; the cached-value rows are left out');
    progress('redis: not reachable on 127.0.0.1:6379, skipping the cached-value rows');
  }

  // The first call of each fetches its code and loads it in a worker, and
  // the first read of the blob fills the cache: real, but one-offs. Twice, so
  // both worker threads have loaded what they run.
  for (let i = 0; i < THREADS; i++) {
    check('noop', await client.call('noop', []), null);
    check(`DAG ${DAG}`, await client.callDag(DAG, { increment: [DAG_X] }), (DAG_X + 1) ** 2);
    check('sum-cached', await client.call('sum-cached', []), blobSum);
    check('sum-arg of ref', await client.call('sum-arg', [ref(BLOB_KEY)]), blobSum);
  }
  const cachedKeys = (await membersHeard(client, 'executor', 1, Date.now()))[0]?.['cached'];
  if (!Array.isArray(cachedKeys) || !cachedKeys.includes(BLOB_KEY)) throw new Error(`the executor does not report ${BLOB_KEY} as cached after reading it`);
  const executorPid = cluster.nodes.find((n) => n.kind === 'executor')?.process.pid;
  const rssWarm = await rssBytes(executorPid);

  // Invocations the executor runs during the points (a DAG call is two), for the RSS after them.
  let invocations = 0;
  const ours = (label: string, perCall: number, call: () => Promise<unknown>): Baseline => ({
    name: 'ours',
    label,
    op: () => ((invocations += perCall), call()),
  });
  const noop = ours('no-op call', 1, () => client.call('noop', []));
  const dag = ours('DAG square(increment(x))', 2, () => client.callDag(DAG, { increment: [DAG_X] }));
  const sumCached = ours('sum of cached 1 MiB, cb.get', 1, () => client.call('sum-cached', []));
  const sumRef = ours('sum of cached 1 MiB, ref', 1, () => client.call('sum-arg', [ref(BLOB_KEY)]));

  const results = new Map<Baseline, Map<InFlight, Measurement>>();
  let sumAloneUs = NaN;
  // Groups of the report's plots: what is compared with what.
  const CALL_PATH = 'call path';
  const CACHED = 'cached 1 MiB value';
  const measureAt = async (system: Baseline, inFlight: InFlight, group: string): Promise<void> => {
    const m = await point(ctx, system.label, system.op, inFlight, group);
    results.set(system, (results.get(system) ?? new Map<InFlight, Measurement>()).set(inFlight, m));
  };
  // Level by level, so the figures divided by each other were taken close in time.
  for (const inFlight of IN_FLIGHT) {
    for (const system of [noop, ...(inFlight === 1 ? [dag] : []), echo]) await measureAt(system, inFlight, CALL_PATH);
  }
  if (redisSum) {
    const missesBefore = await cacheMisses(client, 1);
    await measureAt(sumCached, 1, CACHED);
    await measureAt(sumRef, 1, CACHED);
    const misses = (await cacheMisses(client, 1)) - missesBefore;
    progress(`executor cache misses during the cached-value points: ${misses}`);
    if (misses > 0) notes.push(`the executor missed its cache ${misses} times during the cached-value points: the 1 MiB value was not always cached`);
    await measureAt(redisSum, 1, CACHED);
    // What neither side can go below: the sum alone, in this process.
    const sumOnly = await measure(() => Promise.resolve(sumBytes(blob)), { inFlight: 1, ops: 500, warmupMs: 200 });
    progress(`sum of 1 MiB alone, in this process: p50 ${fmt(sumOnly.p50Us)} µs`);
    sumAloneUs = sumOnly.p50Us;
  }

  const rssAfter = await rssBytes(executorPid);
  if (rssWarm === undefined || rssAfter === undefined) notes.push('executor RSS not readable from /proc; its rows are left out');
  else progress(`executor (pid ${executorPid}) RSS, idle: ${fmt(rssWarm / 1e6)} MB after warm-up, ${fmt(rssAfter / 1e6)} MB after ${fmt(invocations)} more invocations`);

  // --- locality: 3 executors, one router in this process at a time ---
  const loc = await startCluster(ctx, 'locality cluster', { nats: cluster.natsUrl, prefix: LOCALITY_PREFIX, executors: LOCALITY_EXECUTORS, routers: 0 });
  await loc.client.register('sum-arg', SUM_ARG);
  const objectSums: number[] = [];
  for (let i = 0; i < OBJECTS; i++) {
    const bytes = new Uint8Array(randomBytes(BLOB_BYTES));
    objectSums.push(sumBytes(bytes));
    await loc.client.put(`bench-calls:object-${i}`, bytes);
  }
  let next = 0;
  const onObject = async (): Promise<void> => {
    const i = next++ % OBJECTS;
    check(`sum-arg of object ${i}`, await loc.client.call('sum-arg', [ref(`bench-calls:object-${i}`)]), objectSums[i]);
  };
  const placed = new Map<Placement, Map<InFlight, Measurement>>();
  const missed = new Map<Placement, number[]>();
  for (const inFlight of IN_FLIGHT) {
    for (const placement of ['locality', 'random'] as const) {
      const router = await startRouter(ctx, cluster.natsUrl, placement);
      const before = await cacheMisses(loc.client, LOCALITY_EXECUTORS);
      const m = await point(ctx, `${placement} placement`, onObject, inFlight, `sum of 1 of ${OBJECTS} × 1 MiB by ref, ${LOCALITY_EXECUTORS} executors`);
      placed.set(placement, (placed.get(placement) ?? new Map<InFlight, Measurement>()).set(inFlight, m));
      const misses = (await cacheMisses(loc.client, LOCALITY_EXECUTORS)) - before;
      missed.set(placement, [...(missed.get(placement) ?? []), misses]);
      progress(`${placement} placement, ${inFlight} in flight: ${fmt(misses)} cache misses across executors (warmup included)`);
      await router.stop();
    }
  }
  notes.push(
    `locality rows: each executor's cache (${CACHE_BYTES / MiB} MiB) holds all ${OBJECTS} objects, so random placement stops missing once every executor has read every object;` +
      ` locality runs first at each level, so its warmup takes the cold reads; executor cache misses per point (warmup included), 1 then 32 in flight:` +
      ` locality ${missed.get('locality')!.join(', ')}, random ${missed.get('random')!.join(', ')}`,
  );

  // --- rows ---
  const at = (system: Baseline, inFlight: InFlight): Measurement => results.get(system)!.get(inFlight)!;
  const vs = (metric: string, unit: string, pick: (m: Measurement) => number, ours: Baseline, base: Baseline, inFlight: InFlight, goal: string): Row =>
    row({ metric, unit, ours: pick(at(ours, inFlight)), baseline: pick(at(base, inFlight)), baselineName: base.name, goal });
  const rows: Row[] = [
    vs('no-op call ops/s, 32 in flight', 'ops/s', opsPerSec, noop, echo, 32, '>= 0.5'),
    vs('no-op call p50, 1 in flight', 'µs', p50, noop, echo, 1, '<= 3'),
    vs('DAG square(increment(x)) p50, 1 in flight', 'µs', p50, dag, echo, 1, '<= 4'),
  ];
  if (redisSum) {
    rows.push(
      vs('sum of a cached 1 MiB value p50, 1 in flight (cb.get)', 'µs', p50, sumCached, redisSum, 1, '<= 0.1'),
      vs('sum of a cached 1 MiB value p50, 1 in flight (ref)', 'µs', p50, sumRef, redisSum, 1, '-'),
    );
    notes.push(
      'cached-value rows: ours is a whole call (client → router → executor → worker → client) of a function that reads the 1 MiB value from the executor\'s' +
        ' shared-memory cache (cb.get in the worker, or ref resolved by the executor and passed to the worker) and sums its bytes; redis is ioredis getBuffer' +
        ` of the same 1 MiB from 127.0.0.1:6379 followed by the same sum in the bench process, with no call around it. Both sides include the sum,` +
        ` which alone takes ${fmt(sumAloneUs)} µs (p50, in this process), so the ratio cannot go below sum ÷ (sum + redis read)`,
    );
  }
  for (const [kind, unit, pick, inFlight] of [
    ['p50', 'µs', p50, 1],
    ['ops/s', 'ops/s', opsPerSec, 1],
    ['p50', 'µs', p50, 32],
    ['ops/s', 'ops/s', opsPerSec, 32],
  ] as const) {
    rows.push(
      row({
        metric: `locality placement: sum of 1 of ${OBJECTS} × 1 MiB by ref, ${LOCALITY_EXECUTORS} executors, ${kind}, ${inFlight} in flight`,
        unit,
        ours: pick(placed.get('locality')!.get(inFlight)!),
        baseline: pick(placed.get('random')!.get(inFlight)!),
        baselineName: 'random',
        goal: '-',
      }),
    );
  }
  if (rssWarm !== undefined && rssAfter !== undefined) {
    const budget = (IDLE_RSS_BYTES + CACHE_BYTES) / 1e6;
    rows.push(
      row({ metric: 'executor RSS, idle after warm-up', unit: 'MB', ours: rssWarm / 1e6, baseline: budget, baselineName: 'budget', goal: '<= 1' }),
      row({ metric: 'executor RSS, idle after the points above', unit: 'MB', ours: rssAfter / 1e6, baseline: budget, baselineName: 'budget', goal: '-' }),
    );
    notes.push(
      `executor RSS: VmRSS of the executor process (${THREADS} threads, the 1 MiB value cached), after warm-up and again after the ${fmt(invocations)}` +
        ` invocations the points ran (warmups included); budget = 100 MB + its ${CACHE_BYTES / MiB} MiB cache, a figure, not a measurement`,
    );
  }

  return {
    title:
      `calls: no-op call and DAG vs ${echo.label} (1 kvs, 1 executor × ${THREADS} threads, 1 router); sum of a cached 1 MiB value vs redis getBuffer + sum;` +
      ` ${OBJECTS} × 1 MiB objects on ${LOCALITY_EXECUTORS} executors, locality vs random placement; ${ctx.warmupSeconds} s warmup + ${ctx.seconds} s per point, closed loop`,
    rows,
    notes,
  };
}
