// Bench results as DESIGN.md section 7 fixes them: a table on stdout and
// bench/results/<bench>.json, which tooling reads. Every figure is a ratio
// against a baseline measured in the same run, because absolute numbers on a
// shared 2-core machine move with whatever else it is doing.

import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { fmt } from './harness.js';

/** One row of bench/results/<bench>.json; the field set is fixed by DESIGN.md. */
export interface Row {
  metric: string;
  unit: string;
  ours: number;
  baseline: number;
  baselineName: string;
  /** ours ÷ baseline, for throughputs and latencies alike. */
  ratio: number;
  /** A comparison on the ratio (">= 0.5", "<= 3"), or "-" for an informational row. */
  goal: string;
}

export interface ResultFile {
  bench: string;
  at: string;
  node: string;
  cpus: number;
  rows: Row[];
}

/** What a bench hands back; index.ts prints and writes it. */
export interface BenchReport {
  /** One line above the table saying what was compared. */
  title: string;
  rows: Row[];
  /** Said under the table (a skipped baseline, say); not in the JSON. */
  notes: string[];
}

export function row(r: Omit<Row, 'ratio'>): Row {
  // Spelled out so the JSON keys come in DESIGN.md's order.
  return {
    metric: r.metric,
    unit: r.unit,
    ours: round(r.ours),
    baseline: round(r.baseline),
    baselineName: r.baselineName,
    ratio: sig3(r.ours / r.baseline),
    goal: r.goal,
  };
}

/** Whole numbers above 100 (ops/s, µs); a little precision below, where rounding would eat the figure. */
function round(n: number): number {
  return Math.abs(n) >= 100 ? Math.round(n) : sig3(n);
}

function sig3(n: number): number {
  return Number.isFinite(n) ? Number(n.toPrecision(3)) : n;
}

/** Whether `ratio` meets `goal`; undefined for "-" or a goal we cannot read. */
export function meets(ratio: number, goal: string): boolean | undefined {
  const m = /^\s*(>=|<=)\s*([0-9.]+)\s*$/.exec(goal);
  if (!m) return undefined;
  const bound = Number(m[2]);
  return m[1] === '>=' ? ratio >= bound : ratio <= bound;
}

function value(n: number, unit: string): string {
  return `${Math.abs(n) >= 100 ? fmt(n) : String(n)} ${unit}`;
}

export function formatTable(report: BenchReport): string {
  const header = ['metric', 'ours', 'baseline (name)', 'ratio', 'goal'];
  const cells = report.rows.map((r) => [
    r.metric,
    value(r.ours, r.unit),
    `${value(r.baseline, r.unit)} (${r.baselineName})`,
    String(r.ratio),
    r.goal,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  // Numbers right-aligned so magnitudes line up; text left-aligned.
  const right = [false, true, true, true, false];
  const line = (c: string[]): string => c.map((s, i) => (right[i] ? s.padStart(widths[i]!) : s.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [report.title, '', line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)];

  const judged = report.rows.map((r) => ({ r, ok: meets(r.ratio, r.goal) })).filter((j) => j.ok !== undefined);
  const missed = judged.filter((j) => !j.ok).map((j) => `${j.r.metric} vs ${j.r.baselineName} (${j.r.ratio} against ${j.r.goal})`);
  out.push('', `goals met: ${judged.length - missed.length} of ${judged.length}${missed.length ? `; missed: ${missed.join('; ')}` : ''}`);
  for (const note of report.notes) out.push(`note: ${note}`);
  return `${out.join('\n')}\n`;
}

// Next to the sources (bench/results), not under dist/, since that is where
// tooling and people look; this file runs from dist/bench/.
const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));

/** Writes bench/results/<bench>.json and returns its path. */
export async function writeResults(bench: string, rows: Row[], at = new Date()): Promise<string> {
  const file: ResultFile = { bench, at: at.toISOString(), node: process.version, cpus: availableParallelism(), rows };
  await mkdir(RESULTS_DIR, { recursive: true });
  const path = `${RESULTS_DIR}${bench}.json`;
  await writeFile(path, `${JSON.stringify(file, null, 2)}\n`);
  return path;
}
