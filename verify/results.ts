// verify/results/<workload>.json: what a verify run did and found, small
// enough to commit (anomaly examples capped), read by the bench report's
// "Fault harness" section.

import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunOutcome } from './run.js';
import type { CheckResult } from './workload.js';

// Next to the sources (verify/results), not under dist/, like bench/results.
export const VERIFY_RESULTS_DIR = fileURLToPath(new URL('../../verify/results/', import.meta.url));

const MAX_EXAMPLES = 5;
const MAX_EXAMPLE_CHARS = 400;
const MAX_FAULTS = 200;

export interface RunSummary {
  durationMs: number;
  phases: Record<string, number>;
  ops: RunOutcome['ops'];
  /** The nemesis of this run (the control's may differ from the file's: Workload.controlNemesis). Absent in older files. */
  nemeses?: string[];
  faultsPlanned: number;
  faultsInjected: number;
  /** The first MAX_FAULTS faults, each with its start and end on the run's clock. */
  faults: RunOutcome['faults'];
  unexpectedExits: RunOutcome['unexpectedExits'];
  supervisorOrphans: RunOutcome['supervisorOrphans'];
  valid: boolean;
  anomalyCount: number;
  anomalies: CheckResult['anomalies'];
  stats: CheckResult['stats'];
}

export interface VerifyResultFile {
  workload: string;
  description: string;
  /** What the control run drops. */
  controlDrops: string;
  /** The command that reruns this (same seed: same fault schedule). */
  rerun: string;
  at: string;
  seed: number;
  seconds: number;
  nemeses: string[];
  processes: number;
  topology: RunOutcome['topology'];
  /** The run with the workload's mechanism on (null with --control). */
  run: RunSummary | null;
  /** The control run, whose checker must find anomalies (null when not run). */
  control: RunSummary | null;
}

function capExample(e: unknown): unknown {
  const text = JSON.stringify(e) ?? 'undefined';
  return text.length <= MAX_EXAMPLE_CHARS ? e : `${text.slice(0, MAX_EXAMPLE_CHARS)}…`;
}

export function anomalyCount(check: CheckResult): number {
  return Object.values(check.anomalies).reduce((n, a) => n + a.count, 0);
}

export function summarize(o: RunOutcome): RunSummary {
  const anomalies: CheckResult['anomalies'] = {};
  for (const [kind, a] of Object.entries(o.check.anomalies)) anomalies[kind] = { count: a.count, examples: a.examples.slice(0, MAX_EXAMPLES).map(capExample) };
  return {
    durationMs: o.durationMs,
    phases: o.phases,
    ops: o.ops,
    nemeses: o.nemeses,
    faultsPlanned: o.planned,
    faultsInjected: o.faults.length,
    faults: o.faults.slice(0, MAX_FAULTS),
    unexpectedExits: o.unexpectedExits.slice(0, MAX_FAULTS),
    supervisorOrphans: o.supervisorOrphans,
    valid: o.check.valid,
    anomalyCount: anomalyCount(o.check),
    anomalies,
    stats: o.check.stats,
  };
}

export async function writeVerifyResult(file: VerifyResultFile, dir = VERIFY_RESULTS_DIR): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${file.workload}.json`);
  await writeFile(path, `${JSON.stringify(file, null, 2)}\n`);
  return path;
}

/** Every verify/results/*.json (in `dir`), in file-name order; none when there is no such directory. */
export async function readVerifyResults(dir = VERIFY_RESULTS_DIR): Promise<VerifyResultFile[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  const files: VerifyResultFile[] = [];
  for (const name of names) {
    const parsed = JSON.parse(await readFile(join(dir, name), 'utf8')) as Partial<VerifyResultFile>;
    if (typeof parsed.workload !== 'string' || typeof parsed.seed !== 'number' || !Array.isArray(parsed.nemeses)) {
      throw new Error(`${name} is not a verify results file (workload, seed, nemeses)`);
    }
    files.push(parsed as VerifyResultFile);
  }
  return files;
}
