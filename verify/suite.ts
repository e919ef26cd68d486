// A workload verified: its run under the nemesis and its control run, each on
// a fresh cluster, written to verify/results/<workload>.json.

import { DEFAULT_TOPOLOGY, type Topology } from './cluster.js';
import type { FaultKind } from './nemesis.js';
import { summarize, writeVerifyResult, type VerifyResultFile } from './results.js';
import { runOnce, type RunOptions } from './run.js';
import type { Workload } from './workload.js';

export type Mode = 'both' | 'run' | 'control';

export interface VerifyOptions {
  seed: number;
  seconds: number;
  /** Seconds of the control run. Default: min(seconds, 30). */
  controlSeconds?: number;
  nemeses: FaultKind[];
  processes: number;
  mode: Mode;
  keep?: boolean;
  topology?: Partial<Topology>;
  progress?: (line: string) => void;
  /** Where the results file goes (default verify/results). */
  resultsDir?: string;
  /** The nemesis argument as given, for the rerun command. */
  nemesisArg?: string;
}

export async function verifyWorkload(workload: Workload, opts: VerifyOptions): Promise<{ path: string; file: VerifyResultFile }> {
  const base: Omit<RunOptions, 'control' | 'seconds'> = {
    workload,
    seed: opts.seed,
    nemeses: opts.nemeses,
    processes: opts.processes,
    ...(opts.keep ? { keep: true } : {}),
    ...(opts.topology ? { topology: opts.topology } : {}),
    ...(opts.progress ? { progress: opts.progress } : {}),
  };
  const run = opts.mode === 'control' ? undefined : await runOnce({ ...base, control: false, seconds: opts.seconds });
  const control =
    opts.mode === 'run'
      ? undefined
      : await runOnce({ ...base, nemeses: workload.controlNemesis ?? opts.nemeses, control: true, seconds: opts.controlSeconds ?? Math.min(opts.seconds, 30) });
  const any = (run ?? control)!;
  const nemesisArg = opts.nemesisArg ?? (opts.nemeses.join(',') || 'none');
  const file: VerifyResultFile = {
    workload: workload.name,
    description: workload.description,
    controlDrops: workload.control,
    rerun:
      `npm run verify -- ${workload.name} --seed ${opts.seed} --seconds ${opts.seconds} --nemesis ${nemesisArg} --processes ${opts.processes}` +
      `${any.topology.heartbeatMs === DEFAULT_TOPOLOGY.heartbeatMs ? '' : ` --heartbeat-ms ${any.topology.heartbeatMs}`}${opts.mode === 'control' ? ' --control' : ''}`,
    at: new Date().toISOString(),
    seed: opts.seed,
    seconds: opts.seconds,
    nemeses: opts.nemeses,
    processes: opts.processes,
    topology: any.topology,
    run: run ? summarize(run) : null,
    control: control ? summarize(control) : null,
  };
  const path = await writeVerifyResult(file, opts.resultsDir);
  return { path, file };
}
