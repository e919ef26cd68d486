// The contract between the fault harness's runner (verify/run.ts: processes,
// nemeses, recording, results) and its workloads (verify/workloads/*.ts: the
// functions a workload registers, the operations its clients perform, and the
// checker that judges the history). A checker reads only the history and the
// final state, never the implementation, so it says nothing it cannot see.

import type { Cloudburst } from '../lib/client/cloudburst.js';
import type { Topology } from './cluster.js';
import type { FaultKind } from './nemesis.js';

/**
 * One entry of a history (after Jepsen): every operation a client process
 * performs appears as an `invoke`, then exactly one completion with the same
 * `process` and `f`: `ok` (it happened, `value` is what it returned), `fail`
 * (it certainly did not happen) or `info` (unknown: a timeout or a lost
 * connection; it may have happened, now or later).
 */
export interface Op {
  /** Position in the history, from 0. */
  index: number;
  /** The client process (a logical, single-threaded client) that performed it. */
  process: number;
  type: 'invoke' | 'ok' | 'fail' | 'info';
  /** What the operation is, workload-defined (e.g. 'add', 'read', 'transfer'). */
  f: string;
  /** Invoke: its arguments; ok: its result (workload-defined shapes, plain JSON). */
  value: unknown;
  /** Milliseconds on the client's monotonic clock since the run started. */
  time: number;
  /** For fail and info: the error's `code` (lib/errors.ts) and message. */
  error?: string;
}

export type History = Op[];

export interface WorkloadContext {
  /** Connected to the cluster under test; shared by the workload's client processes. */
  client: Cloudburst;
  /** How many client processes run `client()` at once. */
  processes: number;
  /** Seeded: the same seed gives the same sequence of choices. */
  rng: () => number;
  /**
   * The control run: the workload drops the mechanism its checker relies on
   * (lww for rr and causal, no exactlyOnce for counters, no atomic for bank
   * audits), so the checker must find anomalies; a checker that cannot fail
   * proves nothing.
   */
  control: boolean;
  /** Aborted when the run's time is up: clients finish their current operation and return. */
  signal: AbortSignal;
  /**
   * Performs one operation of client `process` and records it: an `invoke`
   * with `value`, then `ok` with what `run` returns (mapped by `result` if
   * given), `fail` when `run` throws an error that certainly had no effect,
   * else `info`. Returns the result, or undefined when it did not complete ok.
   */
  op<T>(process: number, f: string, value: unknown, run: () => Promise<T>, result?: (r: T) => unknown): Promise<T | undefined>;
}

export interface CheckResult {
  /** No anomaly found. */
  valid: boolean;
  /** Anomalies by kind, each with a few examples (ops, keys, values) to debug from. */
  anomalies: Record<string, { count: number; examples: unknown[] }>;
  /** What was checked: operations read, keys, transfers, ... */
  stats: Record<string, number>;
}

export interface Workload {
  name: string;
  /** One line: what it does and what its checker promises. */
  description: string;
  /** One line: what the control run drops. */
  control: string;
  /**
   * What the workload needs of the cluster beyond the harness's default, in
   * its run and its control run alike, so that the two differ only in the
   * mechanism the control drops (causal: a slowed NATS route, without which
   * lww shows no anomaly here). Options given on the command line win.
   */
  topology?: Partial<Topology>;
  /**
   * The control run's nemesis, when it must not be the run's: faults that
   * take away the very condition the control needs to show its anomaly
   * (causal: a paused kvs-2 or executor ends the slow path for a while) make
   * a control that finds anomalies only by luck.
   */
  controlNemesis?: FaultKind[];
  /** Registers its functions and DAGs and writes any initial state. */
  setup(ctx: WorkloadContext): Promise<void>;
  /** One client process: performs operations through `ctx.op` until `ctx.signal` aborts. */
  client(ctx: WorkloadContext, process: number): Promise<void>;
  /** Reads the final state, after the faults have stopped and the cluster has healed. */
  final(ctx: WorkloadContext): Promise<unknown>;
  /** Judges the history and the final state. Pure: no I/O. */
  check(history: History, final: unknown): CheckResult;
}
