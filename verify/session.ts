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

export async function runSession(client: Cloudburst, workload: Workload, opts: SessionOptions): Promise<Session> {
  const recorder = new Recorder(new RunClock(), opts.opDeadlineMs ?? 15_000);
  const abort = new AbortController();
  const ctx: WorkloadContext = {
    client,
    processes: opts.processes,
    rng: seededRandom(opts.seed ?? 1, workload.name),
    control: opts.control,
    signal: abort.signal,
    op: (process, f, value, run, result) => recorder.op(process, f, value, run, result),
  };
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
