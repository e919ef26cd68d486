// What consistency costs, as in the Cloudburst paper's consistency table,
// with every figure divided by one measured in the same run:
//   - the latency of a 3-function DAG f1 → f2 → f3 under repeatable read
//     (`rr`) against the same DAG under last-writer-wins (`lww`), at 1 and
//     16 in flight, while a writer keeps changing the keys the DAG reads;
//   - how many repeatable-read anomalies each mode lets through meanwhile;
//   - a single call with `exactlyOnce` (the effect log), and one with
//     `atomic` (a read-atomic transaction), against without.
// `causal` and `atomic` are not built yet, so they have no rows.

import { LocalCluster, memoryCluster } from '../bin/local_cluster.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import type { Cb } from '../lib/function_api.js';
import type { Baseline } from './baselines.js';
import { fmt, point, type BenchContext, type Measurement, type Teardown } from './harness.js';
import { row, type BenchReport, type Row } from './report.js';

const IN_FLIGHT = [1, 16] as const;
type InFlight = (typeof IN_FLIGHT)[number];
type Mode = 'lww' | 'rr';

const EXECUTORS = 2;
const HEARTBEAT_MS = 200;
/** The shared keys every function reads; f2 also writes the first. */
const KEYS = ['bench-consistency:a', 'bench-consistency:b'] as const;
const WRITTEN = KEYS[0];
const DAG = 'read-write-read';
const STAGES = ['f1', 'f2', 'f3'] as const;
/** The background writer's pause between two rounds of writes (one put per key). */
const WRITE_EVERY_MS = 3;

/** One read or write a DAG stage made, in program order. */
interface Step {
  fn: string;
  /** The instance that made it: `<executor>.<n>`. */
  at: string;
  op: 'read' | 'write';
  key: string;
  value: string | null;
}

/**
 * A stage of the DAG (and, alone, the single call): takes the steps of the
 * stages before it, reads every key, and, given a key to write, writes it
 * and reads it back; returns all steps so far, so the sink's result holds
 * every read of the call. Shipped as source: uses nothing from this module.
 * What it writes depends only on what it read (exactly-once wants that).
 */
async function stage(cb: Cb, fn: string, keys: readonly string[], writes: string | null, before: Step[] = []): Promise<Step[]> {
  const steps = [...before];
  const read = async (key: string): Promise<void> => {
    steps.push({ fn, at: cb.id, op: 'read', key, value: (await cb.get<string>(key)) ?? null });
  };
  for (const key of keys) await read(key);
  if (writes !== null) {
    // `f2<-w17`, never `f2<-f2<-...`: values stay short however many calls run.
    const value = `${fn}<-${String(steps.findLast((s) => s.key === writes)?.value).split('<-').pop()}`;
    await cb.put(writes, value);
    steps.push({ fn, at: cb.id, op: 'write', key: writes, value });
    await read(writes);
  }
  return steps;
}

const stageModule = (fn: string, writes: string | null): string =>
  `${stage.toString()}\nexport default (cb, before) => stage(cb, ${JSON.stringify(fn)}, ${JSON.stringify(KEYS)}, ${JSON.stringify(writes)}, before);\n`;

/** Steps of one DAG call: every stage reads each key, f2 writes one and reads it back. */
const DAG_STEPS = STAGES.length * KEYS.length + 2;

/**
 * Repeatable-read anomalies in one call's steps: keys read twice with
 * different values where the call did not write the key in between (a call
 * reads its own writes, so a write starts the key afresh). Each key counts
 * once per call. The model is the checker of test/consistency.test.ts.
 */
function anomalies(steps: Step[]): number {
  const first = new Map<string, string | null>();
  const bad = new Set<string>();
  for (const s of steps) {
    if (s.op === 'write') first.delete(s.key);
    else if (!first.has(s.key)) first.set(s.key, s.value);
    else if (first.get(s.key) !== s.value) bad.add(s.key);
  }
  return bad.size;
}

interface Writer {
  /** Rounds written so far (one put per key each). */
  readonly rounds: number;
  /** Throws if the writer failed or stopped before it was asked to. */
  check(): void;
  stop(): Promise<void>;
}

/**
 * The concurrent writer: its own client, putting a new value (`w<n>`) under
 * every key, WRITE_EVERY_MS apart. Bounded: it stops by itself after
 * `limitMs`, and at teardown.
 */
async function startWriter(natsUrl: string, prefix: string, teardown: Teardown, limitMs: number): Promise<Writer> {
  const client = await Cloudburst.connect({ servers: natsUrl, prefix, timeoutMs: 10_000 });
  teardown.defer('writer client', () => client.close());
  const until = Date.now() + limitMs;
  let stopped = false;
  let rounds = 0;
  let failure: Error | undefined;
  const loop = (async () => {
    try {
      while (!stopped && Date.now() < until) {
        const value = `w${++rounds}`;
        await Promise.all(KEYS.map((key) => client.put(key, value)));
        await new Promise((resolve) => setTimeout(resolve, WRITE_EVERY_MS));
      }
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
    }
  })();
  const stop = async (): Promise<void> => {
    stopped = true;
    await loop;
  };
  // Before its client closes (teardown runs last-in first-out).
  teardown.defer('background writer', stop);
  return {
    get rounds() {
      return rounds;
    },
    check() {
      if (failure) throw new Error(`the background writer failed: ${failure.message}`, { cause: failure });
      if (!stopped && Date.now() >= until) throw new Error(`the background writer reached its bound of ${limitMs} ms before the points were done`);
    },
    stop,
  };
}

/** Anomalies found in the DAG calls of one point (warmup included). */
interface Tally {
  calls: number;
  anomalies: number;
  /** Calls with at least one anomaly. */
  anomalous: number;
  /** Calls whose stages ran on more than one executor. */
  spread: number;
}

export async function run(ctx: BenchContext): Promise<BenchReport> {
  const { progress, teardown } = ctx;
  const notes: string[] = [];

  const cluster = await LocalCluster.start(
    memoryCluster({ executors: EXECUTORS, heartbeatMs: HEARTBEAT_MS, onProgress: (line) => progress(`cluster: ${line}`) }),
  );
  teardown.defer('local cluster', () => cluster.stop());
  const client = await Cloudburst.connect({ servers: cluster.natsUrl, prefix: cluster.prefix, timeoutMs: 10_000 });
  teardown.defer('cloudburst client', () => client.close());

  await client.register('f1', stageModule('f1', null));
  await client.register('f2', stageModule('f2', WRITTEN));
  await client.register('f3', stageModule('f3', null));
  await client.registerDag(DAG, [...STAGES], [['f1', 'f2'], ['f2', 'f3']]);
  for (const key of KEYS) await client.put(key, 'w0');

  const tallies = new Map<Mode, Map<InFlight, Tally>>();
  let tally: Tally = { calls: 0, anomalies: 0, anomalous: 0, spread: 0 };
  const callDag = async (consistency: Mode): Promise<void> => {
    const steps = await client.callDag<Step[]>(DAG, {}, { consistency });
    if (!Array.isArray(steps) || steps.length !== DAG_STEPS) throw new Error(`DAG ${DAG} returned ${JSON.stringify(steps)}, not ${DAG_STEPS} steps`);
    const found = anomalies(steps);
    tally.calls++;
    tally.anomalies += found;
    if (found > 0) tally.anomalous++;
    if (new Set(steps.map((s) => s.at.split('.')[0])).size > 1) tally.spread++;
  };
  let requests = 0;
  type Single = 'plain' | 'exactlyOnce' | 'atomic';
  const single = async (kind: Single): Promise<void> => {
    const opts =
      kind === 'exactlyOnce' ? { exactlyOnce: true, requestId: `bench-consistency-${process.pid}-${++requests}` } : kind === 'atomic' ? { atomic: true } : {};
    const steps = await client.call<Step[]>('f2', [], opts);
    if (!Array.isArray(steps) || steps.length !== KEYS.length + 2) throw new Error(`f2 returned ${JSON.stringify(steps)}`);
  };

  // The first call of each function fetches its code and loads it in a
  // worker: real, but one-offs. Enough calls that every worker thread of
  // both executors has loaded all three.
  for (let i = 0; i < 4 * EXECUTORS; i++) {
    for (const mode of ['lww', 'rr'] as const) await callDag(mode);
    for (const kind of ['plain', 'exactlyOnce', 'atomic'] as const) await single(kind);
  }

  const dag = (mode: Mode): Baseline => ({ name: mode, label: `DAG f1 → f2 → f3, ${mode}`, op: () => callDag(mode) });
  const lww = dag('lww');
  const rr = dag('rr');
  const plain: Baseline = { name: 'plain', label: 'single call of f2', op: () => single('plain') };
  const once: Baseline = { name: 'exactly-once', label: 'single call of f2, exactlyOnce', op: () => single('exactlyOnce') };
  const atomic: Baseline = { name: 'atomic', label: 'single call of f2, atomic', op: () => single('atomic') };
  const systems = [lww, rr, plain, once, atomic];

  // Bounded at twice what the points should take, plus slack for the cluster's pace.
  const pointsMs = systems.length * IN_FLIGHT.length * (ctx.seconds + ctx.warmupSeconds) * 1000;
  const writer = await startWriter(cluster.natsUrl, cluster.prefix, teardown, 2 * pointsMs + 30_000);
  const writeStart = { at: Date.now(), rounds: writer.rounds };

  const results = new Map<Baseline, Map<InFlight, Measurement>>(systems.map((s) => [s, new Map()]));
  // Level by level, so the figures divided by each other were taken close in time.
  for (const inFlight of IN_FLIGHT) {
    for (const system of systems) {
      tally = { calls: 0, anomalies: 0, anomalous: 0, spread: 0 };
      const before = writer.rounds;
      results.get(system)!.set(inFlight, await point(ctx, system.label, system.op, inFlight));
      writer.check();
      progress(`  background writer: ${fmt(writer.rounds - before)} rounds of ${KEYS.length} puts during the point (warmup included)`);
      if (system === lww || system === rr) {
        const mode = system.name as Mode;
        tallies.set(mode, (tallies.get(mode) ?? new Map<InFlight, Tally>()).set(inFlight, tally));
        progress(`  ${mode}: ${fmt(tally.anomalies)} repeatable-read anomalies in ${fmt(tally.anomalous)} of ${fmt(tally.calls)} DAG calls; ${fmt(tally.spread)} calls ran on both executors`);
      }
    }
  }
  const writesPerSec = ((writer.rounds - writeStart.rounds) * 1000) / (Date.now() - writeStart.at);
  await writer.stop();

  // --- rows ---
  const at = (system: Baseline, inFlight: InFlight): Measurement => results.get(system)!.get(inFlight)!;
  const pick = { p50: (m: Measurement) => m.p50Us, p99: (m: Measurement) => m.p99Us };
  const rows: Row[] = [];
  for (const inFlight of IN_FLIGHT) {
    for (const q of ['p50', 'p99'] as const) {
      rows.push(
        row({
          metric: `DAG f1 → f2 → f3 ${q}, ${inFlight} in flight, rr`,
          unit: 'µs',
          ours: pick[q](at(rr, inFlight)),
          baseline: pick[q](at(lww, inFlight)),
          baselineName: lww.name,
          goal: q === 'p50' && inFlight === 1 ? '<= 1.5' : '-',
        }),
      );
    }
  }
  for (const inFlight of IN_FLIGHT) {
    const counts = (mode: Mode): Tally => tallies.get(mode)!.get(inFlight)!;
    rows.push(
      row({
        metric: `repeatable-read anomalies, DAG f1 → f2 → f3, ${inFlight} in flight, rr`,
        unit: 'anomalies',
        ours: counts('rr').anomalies,
        baseline: counts('lww').anomalies,
        baselineName: lww.name,
        goal: '-',
      }),
    );
  }
  for (const [system, goal] of [
    [once, '-'],
    [atomic, '<= 2'],
  ] as const) {
    for (const inFlight of IN_FLIGHT) {
      for (const q of ['p50', 'p99'] as const) {
        rows.push(
          row({
            metric: `single call of f2 ${q}, ${inFlight} in flight, ${system.name}`,
            unit: 'µs',
            ours: pick[q](at(system, inFlight)),
            baseline: pick[q](at(plain, inFlight)),
            baselineName: plain.name,
            goal: q === 'p50' && inFlight === 1 ? goal : '-',
          }),
        );
      }
    }
  }

  const checked = (mode: Mode): string =>
    IN_FLIGHT.map((n) => {
      const t = tallies.get(mode)!.get(n)!;
      return `${fmt(t.anomalous)} of ${fmt(t.calls)} calls at ${n} in flight (${fmt(t.spread)} on both executors)`;
    }).join(', ');
  notes.push(
    `anomalies: a key read twice in one DAG call with different values, with no write of that key by the call between the two reads` +
      ` (a call reads its own writes); each key counts once per call, so at most ${KEYS.length} per call; counted over every call of the point, warmup included.` +
      ` Calls with an anomaly: lww ${checked('lww')}; rr ${checked('rr')}`,
    `the DAG: f1, f2 and f3 each read ${KEYS.join(' and ')}; f2 then writes ${WRITTEN} and reads it back; each returns every read so far, the sink all of them.` +
      ` Meanwhile a second client writes both keys every ${WRITE_EVERY_MS} ms (${fmt(writesPerSec)} rounds/s, through every point)`,
    'exactly-once rows: a call of f2 alone (2 reads, 1 write, 1 read back) with exactlyOnce and a fresh requestId, against the same call without: what the effect log costs',
    'atomic rows: a call of f2 alone as a read-atomic transaction (reads pick versions from the version index; the write commits as version, commit record, index, key), against the same call without',
    'no causal rows: the background writer writes plain values, which keys holding causal versions refuse; atomic DAG calls are not built yet',
  );
  for (const n of IN_FLIGHT) {
    if (tallies.get('lww')!.get(n)!.anomalies === 0) notes.push(`lww showed no anomaly at ${n} in flight, so the anomaly ratio there has nothing to divide by`);
  }

  return {
    title:
      `consistency: DAG f1 → f2 → f3 under rr vs lww, and single calls with exactlyOnce or atomic vs without, under a concurrent writer` +
      ` (1 kvs in memory, ${EXECUTORS} executors × 2 threads, 1 router, heartbeat ${HEARTBEAT_MS} ms); ${ctx.warmupSeconds} s warmup + ${ctx.seconds} s per point, closed loop`,
    rows,
    notes,
  };
}
