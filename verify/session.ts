// One workload run against a cluster someone else started, with no faults:
// setup, clients for a while, final state, check. The runner (run.ts) wraps
// the same steps in processes, nemeses and results; this is what an
// in-process test (test/verify_workloads.test.ts) needs on its own.

import type { Cloudburst } from '../lib/client/cloudburst.js';
import { Recorder, RunClock } from './history.js';
import { seededRandom } from './rng.js';
import type { CheckResult, History, Workload, WorkloadContext } from './workload.js';

export interface SessionOptions {
  processes: number;
  durationMs: number;
  control: boolean;
  seed?: number;
  /** The harness's bound on one operation. Default 15 s. */
  opDeadlineMs?: number;
}

export interface Session {
  history: History;
  final: unknown;
  verdict: CheckResult;
}

/** What a workload's clients get: the client, a seeded stream of their own, and `op` recording into `recorder`. */
export function workloadContext(
  client: Cloudburst,
  workload: Workload,
  recorder: Recorder,
  opts: { processes: number; seed: number; control: boolean; signal: AbortSignal },
): WorkloadContext {
  return {
    client,
    processes: opts.processes,
    rng: seededRandom(opts.seed, `workload/${workload.name}`),
    control: opts.control,
    signal: opts.signal,
    op: (process, f, value, run, result) => recorder.op(process, f, value, run, result),
  };
}

export async function runSession(client: Cloudburst, workload: Workload, opts: SessionOptions): Promise<Session> {
  const recorder = new Recorder(new RunClock(), opts.opDeadlineMs ?? 15_000);
  const abort = new AbortController();
  const ctx = workloadContext(client, workload, recorder, { processes: opts.processes, seed: opts.seed ?? 1, control: opts.control, signal: abort.signal });
  await workload.setup(ctx);
  const timer = setTimeout(() => abort.abort(), opts.durationMs);
  try {
    await Promise.all(Array.from({ length: opts.processes }, (_, p) => workload.client(ctx, p)));
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  const final = await workload.final(ctx);
  return { history: recorder.history, final, verdict: workload.check(recorder.history, final) };
}
