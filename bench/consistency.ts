// What consistency costs, as in the Cloudburst paper's consistency table,
// with every figure divided by one measured in the same run:
//   - the latency of a 3-function DAG f1 → f2 → f3 under repeatable read
//     (`rr`), causal (`causal`) and read-atomic (`atomic`), each against the
//     same DAG under last-writer-wins (`lww`) on the same keys, at 1 and 16
//     in flight, while writers keep changing the keys the DAG reads;
//   - how many anomalies each mode lets through meanwhile, counted by the
//     checker of what that mode rules out, against lww on the same keys;
//   - a single call with `exactlyOnce` (the effect log), one with `atomic`,
//     and one with `isolation: 'serializable'` (a lock per key), against
//     without;
//   - contention: read-modify-write increments of one key, 16 in flight,
//     under serializable (how many calls end TransactionAborted) against
//     atomic (how many increments are lost).
// Each mode has its own pair of keys and its own writer, because a key
// holds one kind of value: plain keys (written by plain puts), causal keys
// (written by causal calls) and transactional keys (written by atomic calls).

import { LocalCluster, memoryCluster } from '../bin/local_cluster.js';
import { Cloudburst, type CallOptions } from '../lib/client/cloudburst.js';
import type { Cb } from '../lib/function_api.js';
import type { Baseline } from './baselines.js';
import { fmt, point, type BenchContext, type Measurement, type Teardown } from './harness.js';
import { row, type BenchReport, type Row } from './report.js';

const IN_FLIGHT = [1, 16] as const;
type InFlight = (typeof IN_FLIGHT)[number];
type Mode = 'lww' | 'rr' | 'causal' | 'atomic';
/** The modes compared with lww, and the kind of keys each runs on. */
const CHECKED = ['rr', 'causal', 'atomic'] as const;
type Checked = (typeof CHECKED)[number];
const KEY_SET: Record<Checked, 'plain' | 'causal' | 'atomic'> = { rr: 'plain', causal: 'causal', atomic: 'atomic' };

const EXECUTORS = 2;
const HEARTBEAT_MS = 200;
/** The pair of keys every stage reads, per kind; writers write the first, then the second, the same round number. */
const keysOf = (set: string): [string, string] => [`bench-consistency:${set}:a`, `bench-consistency:${set}:b`];
/** f2 writes here: one key per mode and key set, since a key holds one kind of value. */
const outKey = (set: string, mode: string): string => `bench-consistency:${set}:out:${mode}`;
const DAG = 'read-write-read';
const STAGES = ['f1', 'f2', 'f3'] as const;
/** A writer's pause between two rounds (one write of each key). */
const WRITE_EVERY_MS = 3;

/** One read a DAG stage made, in program order. */
interface Step {
  /** The instance that made it: `<executor>.<n>`. */
  at: string;
  key: string;
  /** What the read returned: a round number, or (causal keys) the concurrent ones. */
  value: unknown;
}

/**
 * A stage of the DAG (and, alone, the single call): takes the reads of the
 * stages before it, reads both keys, and, given a key to write, writes
 * there how many reads the call has made; returns every read so far, so the
 * sink's result holds every read of the call. Shipped as source: uses
 * nothing from this module. Deterministic given its reads (exactly-once
 * wants that).
 */
async function stage(cb: Cb, keys: string[], out: string | null, before: Step[] = []): Promise<Step[]> {
  const steps = [...before];
  for (const key of keys) steps.push({ at: cb.id, key, value: (await cb.get(key)) ?? null });
  if (out !== null) await cb.put(out, steps.length);
  return steps;
}

const STAGE_MODULE = `${stage.toString()}\nexport default stage;\n`;

/** A writer's round: the first key, then the second (which, under causal, depends on the first). */
async function writeBoth(cb: Cb, keys: string[], round: number): Promise<void> {
  for (const key of keys) await cb.put(key, round);
}

const WRITE_MODULE = `${writeBoth.toString()}\nexport default writeBoth;\n`;

/** Reads of one DAG call: every stage reads both keys. */
const DAG_STEPS = STAGES.length * 2;

/** The round a read saw: the newest of concurrent ones; -1 for absent. */
function round(value: unknown): number {
  if (typeof value === 'number') return value;
  if (Array.isArray(value)) return Math.max(-1, ...value.map(round));
  return -1;
}

/**
 * Anomaly checkers over one call's reads; each counts at most once per key
 * pair and call. The model is the checkers of test/consistency.test.ts,
 * test/causal.test.ts and test/atomic.test.ts.
 */
const CHECKERS: Record<Checked, { name: string; count(steps: Step[], keys: [string, string]): number }> = {
  // A key read twice with different values (the DAG never writes these keys).
  rr: {
    name: 'repeatable-read anomalies',
    count: (steps) => {
      const first = new Map<string, number>();
      const bad = new Set<string>();
      for (const s of steps) {
        const r = round(s.value);
        if (!first.has(s.key)) first.set(s.key, r);
        else if (first.get(s.key) !== r) bad.add(s.key);
      }
      return bad.size;
    },
  },
  // The second key of round N is written after the first, so (under causal)
  // depends on it: reading it at N, then the first below N, is an effect
  // seen without its cause.
  causal: {
    name: 'causal violations',
    count: (steps, [first, second]) => {
      let seen = -1;
      for (const s of steps) {
        if (s.key === second) seen = Math.max(seen, round(s.value));
        else if (s.key === first && round(s.value) < seen) return 1;
      }
      return 0;
    },
  },
  // Both keys are written in one transaction per round: reading them at
  // different rounds sees part of a write set.
  atomic: {
    name: 'fractured reads',
    count: (steps, [first, second]) => {
      const rounds = (key: string) => new Set(steps.filter((s) => s.key === key).map((s) => round(s.value)));
      const a = rounds(first);
      return [...rounds(second)].some((r) => [...a].some((q) => q !== r)) ? 1 : 0;
    },
  },
};

/** Read-modify-write of one key: what serializable isolation keeps whole and atomic alone does not. */
async function increment(cb: Cb, key: string): Promise<number> {
  const next = ((await cb.get<number>(key)) ?? 0) + 1;
  await cb.put(key, next);
  return next;
}

const INCREMENT_MODULE = `${increment.toString()}\nexport default increment;\n`;
const CONTENTION_IN_FLIGHT = 16;

/** Increments of `key` by CONTENTION_IN_FLIGHT callers for the point's time: calls, committed, aborted, and increments lost (committed minus the key's final value). */
async function contend(ctx: BenchContext, client: Cloudburst, opts: CallOptions, key: string): Promise<{ calls: number; ok: number; aborted: number; lost: number }> {
  const until = Date.now() + ctx.seconds * 1000;
  let calls = 0;
  let ok = 0;
  let aborted = 0;
  await Promise.all(
    Array.from({ length: CONTENTION_IN_FLIGHT }, async () => {
      while (Date.now() < until) {
        calls++;
        try {
          await client.call('increment', [key], opts);
          ok++;
        } catch (err) {
          if ((err as { code?: string }).code !== 'TRANSACTION_ABORTED') throw err;
          aborted++;
        }
      }
    }),
  );
  // The final value, read the way the mode reads (a transactional key's value is its committed version).
  const final = (await client.call<Step[]>('f2', [[key], null], opts.isolation ? { isolation: 'serializable' } : { atomic: true }))[0]!.value;
  const lost = ok - (typeof final === 'number' ? final : 0);
  ctx.progress(`contention ${JSON.stringify(opts)}: ${ok} committed, ${aborted} aborted of ${calls}; the key holds ${String(final)}: ${lost} lost`);
  return { calls, ok, aborted, lost };
}

interface Writer {
  /** Rounds written so far. */
  readonly rounds: number;
  /** Throws if the writer failed or stopped before it was asked to. */
  check(): void;
}

/**
 * A concurrent writer: its own client, writing round after round,
 * WRITE_EVERY_MS apart. Bounded: it stops by itself after `limitMs`, and
 * at teardown.
 */
async function startWriter(
  name: string,
  natsUrl: string,
  prefix: string,
  teardown: Teardown,
  limitMs: number,
  write: (client: Cloudburst, round: number) => Promise<unknown>,
): Promise<Writer> {
  const client = await Cloudburst.connect({ servers: natsUrl, prefix, timeoutMs: 10_000 });
  teardown.defer(`${name} writer client`, () => client.close());
  const until = Date.now() + limitMs;
  let stopped = false;
  let rounds = 0;
  let failure: Error | undefined;
  const loop = (async () => {
    try {
      while (!stopped && Date.now() < until) {
        await write(client, ++rounds);
        await new Promise((resolve) => setTimeout(resolve, WRITE_EVERY_MS));
      }
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
    }
  })();
  // Before its client closes (teardown runs last-in first-out).
  teardown.defer(`${name} writer`, async () => {
    stopped = true;
    await loop;
  });
  return {
    get rounds() {
      return rounds;
    },
    check() {
      if (failure) throw new Error(`the ${name} writer failed: ${failure.message}`, { cause: failure });
      if (!stopped && Date.now() >= until) throw new Error(`the ${name} writer reached its bound of ${limitMs} ms before the points were done`);
    },
  };
}

/** Anomalies found in the DAG calls of one point (warmup included). */
interface Tally {
  calls: number;
  anomalies: number;
  /** Calls whose stages ran on more than one executor. */
  spread: number;
}

/** One DAG system: a mode on a checked mode's keys (lww runs on each, as the control). */
interface DagSystem extends Baseline {
  mode: Mode;
  checked: Checked;
}

const modeOptions = (mode: Mode): CallOptions => (mode === 'atomic' ? { atomic: true } : { consistency: mode });

export async function run(ctx: BenchContext): Promise<BenchReport> {
  const { progress, teardown } = ctx;
  const notes: string[] = [];

  const cluster = await LocalCluster.start(
    memoryCluster({ executors: EXECUTORS, heartbeatMs: HEARTBEAT_MS, onProgress: (line) => progress(`cluster: ${line}`) }),
  );
  teardown.defer('local cluster', () => cluster.stop());
  const client = await Cloudburst.connect({ servers: cluster.natsUrl, prefix: cluster.prefix, timeoutMs: 10_000 });
  teardown.defer('cloudburst client', () => client.close());

  for (const fn of STAGES) await client.register(fn, STAGE_MODULE);
  await client.register('writeBoth', WRITE_MODULE);
  await client.registerDag(DAG, [...STAGES], [['f1', 'f2'], ['f2', 'f3']]);
  // Each kind of key written the way its writer will write it, so the first reads find round 0.
  const writes: Record<'plain' | 'causal' | 'atomic', (c: Cloudburst, round: number) => Promise<unknown>> = {
    plain: (c, r) => Promise.all(keysOf('plain').map((key) => c.put(key, r))),
    causal: (c, r) => c.call('writeBoth', [keysOf('causal'), r], { consistency: 'causal' }),
    atomic: (c, r) => c.call('writeBoth', [keysOf('atomic'), r], { atomic: true }),
  };
  for (const write of Object.values(writes)) await write(client, 0);

  let tally: Tally = { calls: 0, anomalies: 0, spread: 0 };
  const callDag = async (system: Pick<DagSystem, 'mode' | 'checked'>): Promise<void> => {
    const set = KEY_SET[system.checked];
    const keys = keysOf(set);
    const args = { f1: [keys, null], f2: [keys, outKey(set, system.mode)], f3: [keys, null] };
    const steps = await client.callDag<Step[]>(DAG, args, modeOptions(system.mode));
    if (!Array.isArray(steps) || steps.length !== DAG_STEPS) throw new Error(`DAG ${DAG} returned ${JSON.stringify(steps)}, not ${DAG_STEPS} reads`);
    tally.calls++;
    tally.anomalies += CHECKERS[system.checked].count(steps, keys);
    if (new Set(steps.map((s) => s.at.split('.')[0])).size > 1) tally.spread++;
  };
  let requests = 0;
  type Single = 'plain' | 'exactlyOnce' | 'atomic' | 'serializable';
  const single = async (kind: Single): Promise<void> => {
    const opts: CallOptions =
      kind === 'exactlyOnce'
        ? { exactlyOnce: true, requestId: `bench-consistency-${process.pid}-${++requests}` }
        : kind === 'atomic'
          ? { atomic: true }
          : kind === 'serializable'
            ? { isolation: 'serializable' }
            : {};
    const steps = await client.call<Step[]>('f2', [keysOf('plain'), outKey('single', kind)], opts);
    if (!Array.isArray(steps) || steps.length !== 2) throw new Error(`f2 returned ${JSON.stringify(steps)}`);
  };

  const dags: DagSystem[] = CHECKED.flatMap((checked) =>
    (['lww', checked] as const).map((mode) => ({
      name: mode === 'lww' ? `lww on ${KEY_SET[checked]} keys` : mode,
      label: `DAG f1 → f2 → f3, ${mode} on ${KEY_SET[checked]} keys`,
      mode,
      checked,
      op: () => callDag({ mode, checked }),
    })),
  );
  const dagOf = (mode: Mode, checked: Checked): DagSystem => dags.find((d) => d.mode === mode && d.checked === checked)!;

  // The first call of each function fetches its code and loads it in a
  // worker: real, but one-offs. Enough calls that every worker thread of
  // both executors has loaded all of them.
  for (let i = 0; i < 4 * EXECUTORS; i++) {
    for (const d of dags) await callDag(d);
    for (const kind of ['plain', 'exactlyOnce', 'atomic', 'serializable'] as const) await single(kind);
  }

  const plain: Baseline = { name: 'plain', label: 'single call of f2', op: () => single('plain') };
  const once: Baseline = { name: 'exactly-once', label: 'single call of f2, exactlyOnce', op: () => single('exactlyOnce') };
  const atomicCall: Baseline = { name: 'atomic', label: 'single call of f2, atomic', op: () => single('atomic') };
  const serializableCall: Baseline = { name: 'serializable', label: 'single call of f2, serializable', op: () => single('serializable') };
  const systems: Baseline[] = [...dags, plain, once, atomicCall, serializableCall];

  // Bounded at twice what the points should take, plus slack for the cluster's pace.
  const pointsMs = systems.length * IN_FLIGHT.length * (ctx.seconds + ctx.warmupSeconds) * 1000;
  const writers = new Map<string, Writer>();
  for (const [set, write] of Object.entries(writes)) writers.set(set, await startWriter(set, cluster.natsUrl, cluster.prefix, teardown, 2 * pointsMs + 30_000, write));
  const writeStart = { at: Date.now(), rounds: new Map([...writers].map(([set, w]) => [set, w.rounds])) };

  const results = new Map<Baseline, Map<InFlight, Measurement>>(systems.map((s) => [s, new Map()]));
  const tallies = new Map<DagSystem, Map<InFlight, Tally>>(dags.map((d) => [d, new Map()]));
  // Level by level, so the figures divided by each other were taken close in time.
  for (const inFlight of IN_FLIGHT) {
    for (const system of systems) {
      tally = { calls: 0, anomalies: 0, spread: 0 };
      results.get(system)!.set(inFlight, await point(ctx, system.label, system.op, inFlight));
      for (const w of writers.values()) w.check();
      const dag = dags.find((d) => d === system);
      if (dag) {
        tallies.get(dag)!.set(inFlight, tally);
        progress(`  ${fmt(tally.anomalies)} ${CHECKERS[dag.checked].name} in ${fmt(tally.calls)} DAG calls; ${fmt(tally.spread)} ran on both executors`);
      }
    }
  }
  await client.register('increment', INCREMENT_MODULE);
  const contention = {
    serializable: await contend(ctx, client, { isolation: 'serializable' }, 'bench-consistency:hot:serializable'),
    atomic: await contend(ctx, client, { atomic: true }, 'bench-consistency:hot:atomic'),
  };
  const elapsedS = (Date.now() - writeStart.at) / 1000;
  const writeRates = [...writers].map(([set, w]) => `${set} ${fmt((w.rounds - writeStart.rounds.get(set)!) / elapsedS)}/s`).join(', ');

  // --- rows ---
  const at = (system: Baseline, inFlight: InFlight): Measurement => results.get(system)!.get(inFlight)!;
  const counted = (system: DagSystem, inFlight: InFlight): Tally => tallies.get(system)!.get(inFlight)!;
  const pick = { p50: (m: Measurement) => m.p50Us, p99: (m: Measurement) => m.p99Us };
  const rows: Row[] = [];
  for (const checked of CHECKED) {
    const ours = dagOf(checked, checked);
    const lww = dagOf('lww', checked);
    for (const inFlight of IN_FLIGHT) {
      for (const q of ['p50', 'p99'] as const) {
        rows.push(
          row({
            metric: `DAG f1 → f2 → f3 ${q}, ${inFlight} in flight, ${checked}`,
            unit: 'µs',
            ours: pick[q](at(ours, inFlight)),
            baseline: pick[q](at(lww, inFlight)),
            baselineName: lww.name,
            goal: q === 'p50' && inFlight === 1 ? (checked === 'atomic' ? '<= 2' : '<= 1.5') : '-',
          }),
        );
      }
      rows.push(
        row({
          metric: `${CHECKERS[checked].name}, DAG f1 → f2 → f3, ${inFlight} in flight, ${checked}`,
          unit: 'anomalies',
          ours: counted(ours, inFlight).anomalies,
          baseline: counted(lww, inFlight).anomalies,
          baselineName: lww.name,
          goal: '-',
        }),
      );
    }
  }
  for (const [system, goal] of [
    [once, '-'],
    [atomicCall, '<= 2'],
    [serializableCall, '<= 2.5'],
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

  const pct = (n: number, of: number): number => (of === 0 ? 0 : (100 * n) / of);
  rows.push(
    row({
      metric: `increments of one key, ${CONTENTION_IN_FLIGHT} in flight: calls aborted (serializable) vs increments lost (atomic)`,
      unit: '%',
      ours: pct(contention.serializable.aborted, contention.serializable.calls),
      baseline: pct(contention.atomic.lost, contention.atomic.ok),
      baselineName: 'atomic, lost',
      goal: '-',
    }),
    row({
      metric: `increments of one key, ${CONTENTION_IN_FLIGHT} in flight: increments lost (serializable vs atomic)`,
      unit: 'increments',
      ours: contention.serializable.lost,
      baseline: contention.atomic.lost,
      baselineName: 'atomic',
      goal: '0',
    }),
  );
  const spread = (d: DagSystem): string => IN_FLIGHT.map((n) => `${fmt(counted(d, n).spread)} of ${fmt(counted(d, n).calls)} at ${n} in flight`).join(', ');
  notes.push(
    `the DAG: f1, f2 and f3 each read a pair of keys; f2 then writes its own key; each returns every read so far, the sink all of them.` +
      ` Each mode runs on its own pair (plain keys for rr, causal keys for causal, transactional keys for atomic) and is compared with lww on the same pair.` +
      ` Writers, throughout every point: plain keys by two puts per round, causal keys by a causal call writing the first then the second, transactional keys by an atomic call writing both` +
      ` (${writeRates}, ${WRITE_EVERY_MS} ms apart)`,
    `checkers, counted over every call of the point, warmup included: repeatable-read anomalies = a key read twice in the call with different values (at most 2 per call);` +
      ` causal violations = the second key read at round N, then the first below N (the first is its cause; at most 1 per call);` +
      ` fractured reads = the two keys read at different rounds (at most 1 per call)`,
    `calls whose stages ran on both executors: ${dags.map((d) => `${d.name} ${spread(d)}`).join('; ')}`,
    'exactly-once rows: a call of f2 alone (2 reads, 1 write) with exactlyOnce and a fresh requestId, against the same call without: what the effect log costs',
    `serializable single-call rows: the same call of f2 with isolation: 'serializable': a lock (a decide on the lock record's primary, on every replica) per key before its first read or write, the atomic commit, then the releases; at 16 in flight every call wants the same three keys, so calls wait out each other's tries (retried inside the executor, with jittered backoff)`,
    `contention rows: ${CONTENTION_IN_FLIGHT} callers in a closed loop for ${ctx.seconds} s each mode, each call reading one key and writing it plus one;` +
      ` serializable: ${fmt(contention.serializable.ok)} committed, ${fmt(contention.serializable.aborted)} TransactionAborted of ${fmt(contention.serializable.calls)}, ${fmt(contention.serializable.lost)} lost;` +
      ` atomic: ${fmt(contention.atomic.ok)} committed, ${fmt(contention.atomic.lost)} of them lost (the key ends below the count)`,
    'atomic single-call rows: a call of f2 alone as a read-atomic transaction (a read fetches the recent version index of the key, whose entries carry the versions, beside its mark; for these plain keys, which no transaction wrote, the plain value, with the mark checked again after it; the one-key write commits as its intent, then index entry with mark and commit record, then the key), against the same call without',
  );
  for (const checked of CHECKED) {
    for (const n of IN_FLIGHT) {
      if (counted(dagOf('lww', checked), n).anomalies === 0) notes.push(`lww on ${KEY_SET[checked]} keys showed no ${CHECKERS[checked].name} at ${n} in flight, so that ratio has nothing to divide by`);
    }
  }
  notes.push(
    'lww breaks causality only when a cache holds the second key\'s new round but not the first\'s; with one KVS shard, writes reach every cache in the order they were made, so lww rarely shows it here.' +
      ' test/causal.test.ts holds one executor\'s updates back to show the checker finding violations under lww and none under causal',
  );

  return {
    title:
      `consistency: DAG f1 → f2 → f3 under rr, causal and atomic vs lww, and single calls with exactlyOnce or atomic vs without, under concurrent writers` +
      ` (1 kvs in memory, ${EXECUTORS} executors × 2 threads, 1 router, heartbeat ${HEARTBEAT_MS} ms); ${ctx.warmupSeconds} s warmup + ${ctx.seconds} s per point, closed loop`,
    rows,
    notes,
  };
}
