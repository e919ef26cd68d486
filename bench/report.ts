// Bench results in one fixed shape: a table on stdout and
// bench/results/<bench>.json, which tooling reads. Every figure is a ratio
// against a baseline measured in the same run, because absolute numbers on a
// shared 2-core machine move with whatever else it is doing.

import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { InvalidArgument } from '../lib/errors.js';
import { fmt, type PointRecord } from './harness.js';

/** One row of bench/results/<bench>.json; the field set is fixed (reports and tools read it). */
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

/** Percentiles each point's latency distribution is given at: the x axis of the report's latency curves. */
export const PERCENTILES = [50, 75, 90, 95, 99, 99.9, 99.99] as const;

/** The latency distribution of one measured point, from its HDR histogram. */
export interface Distribution {
  /** Points of one group are plotted together ("" for the bench as a whole). */
  group: string;
  /** The system measured: one curve. */
  label: string;
  inFlight: number;
  /** Operations completed in the window: a p99.99 of fewer than 10,000 is the tail of very few. */
  ops: number;
  opsPerSec: number;
  /** [percentile, µs] at each of PERCENTILES, in order. */
  percentilesUs: [number, number][];
  maxUs: number;
}

/** One line of a plot: [x, y] points in order of x. */
export interface SeriesLine {
  label: string;
  points: [number, number][];
  /** Computed from the line with this label (an ideal from its first point, say), not measured: drawn dashed, in that line's colour. */
  derivedFrom?: string;
}

/** A plot of y against x, several lines on the same axes (throughput against in-flight, against executors). */
export interface Series {
  title: string;
  xLabel: string;
  yLabel: string;
  lines: SeriesLine[];
}

/**
 * bench/results/<bench>.json. `bench` to `rows` are the fixed shape,
 * which tooling reads; the rest is optional and feeds the HTML report.
 */
export interface ResultFile {
  bench: string;
  at: string;
  node: string;
  cpus: number;
  rows: Row[];
  title?: string;
  notes?: string[];
  distributions?: Distribution[];
  series?: Series[];
}

/** What a bench hands back; index.ts prints and writes it. */
export interface BenchReport {
  /** One line above the table saying what was compared. */
  title: string;
  rows: Row[];
  /** Said under the table (a skipped baseline, say). */
  notes: string[];
  /** Plots the points alone do not give (throughput against executors, say); throughput against in-flight is derived from the points. */
  series?: Series[];
}

export function row(r: Omit<Row, 'ratio'>): Row {
  // Spelled out so the JSON keys come in the fixed order.
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
  // A ratio JSON could not hold (0 ÷ 0 is written as null) meets nothing.
  if (typeof ratio !== 'number' || Number.isNaN(ratio)) return false;
  return m[1] === '>=' ? ratio >= bound : ratio <= bound;
}

/** A figure with its unit, as the table shows it; "n/a" for what JSON could not hold (NaN is written as null). */
export function value(n: number, unit: string): string {
  if (typeof n !== 'number' || Number.isNaN(n)) return 'n/a';
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

export function distributionOf({ group, label, measurement: m }: PointRecord): Distribution {
  return {
    group,
    label,
    inFlight: m.inFlight,
    ops: m.ops,
    opsPerSec: Math.round(m.opsPerSec),
    // A histogram reports a percentile as its bucket's highest value, which can
    // pass the largest latency recorded: never above the max.
    percentilesUs: PERCENTILES.map((p) => [p, Math.min(m.latencyUs.getValueAtPercentile(p), m.maxUs)]),
    maxUs: m.maxUs,
  };
}

/**
 * Throughput against requests in flight, one plot per group, one line per
 * label measured at two levels or more. A label measured twice at one level
 * keeps its last point.
 */
export function throughputSeries(points: PointRecord[]): Series[] {
  const groups = new Map<string, Map<string, Map<number, number>>>();
  for (const { group, label, measurement: m } of points) {
    const labels = groups.get(group) ?? groups.set(group, new Map()).get(group)!;
    (labels.get(label) ?? labels.set(label, new Map()).get(label)!).set(m.inFlight, Math.round(m.opsPerSec));
  }
  const series: Series[] = [];
  for (const [group, labels] of groups) {
    const lines = [...labels]
      .filter(([, levels]) => levels.size >= 2)
      .map(([label, levels]): SeriesLine => ({ label, points: [...levels].sort(([a], [b]) => a - b) }));
    if (lines.length > 0) series.push({ title: `${group ? `${group}: ` : ''}throughput against requests in flight`, xLabel: 'requests in flight', yLabel: 'ops/s', lines });
  }
  return series;
}

// Next to the sources (bench/results), not under dist/, since that is where
// tooling and people look; this file runs from dist/bench/.
export const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));

/** Writes bench/results/<bench>.json, with the distribution of every point and the plots, and returns its path. */
export async function writeResults(bench: string, report: BenchReport, points: PointRecord[], at = new Date()): Promise<string> {
  const file: ResultFile = {
    bench,
    at: at.toISOString(),
    node: process.version,
    cpus: availableParallelism(),
    rows: report.rows,
    title: report.title,
    notes: report.notes,
    distributions: points.map(distributionOf),
    series: [...throughputSeries(points), ...(report.series ?? [])],
  };
  await mkdir(RESULTS_DIR, { recursive: true });
  const path = `${RESULTS_DIR}${bench}.json`;
  await writeFile(path, `${JSON.stringify(file, null, 2)}\n`);
  return path;
}

/** Every bench/results/*.json (in `dir`), checked for the shape the report reads, in file-name order. */
export async function readResults(dir = RESULTS_DIR): Promise<ResultFile[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  return Promise.all(names.map(async (name) => parseResultFile(await readFile(`${dir}${name}`, 'utf8'), name)));
}

/** A results file's text as a ResultFile; InvalidArgument naming the file and the field when it is not one. */
export function parseResultFile(text: string, name: string): ResultFile {
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgument(`${name}: not JSON (${(err as Error).message})`, { cause: err });
  }
  const bad = (where: string, want: string): never => {
    throw new InvalidArgument(`${name}: ${where} is not ${want}`);
  };
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const isPairs = (v: unknown): boolean => Array.isArray(v) && v.every((p) => Array.isArray(p) && p.length === 2 && p.every((n) => typeof n === 'number'));
  if (!isObject(file)) return bad('the file', 'an object');
  for (const key of ['bench', 'at', 'node'] as const) if (typeof file[key] !== 'string') bad(key, 'a string');
  if (typeof file['cpus'] !== 'number') bad('cpus', 'a number');
  if (!Array.isArray(file['rows'])) return bad('rows', 'an array');
  file['rows'].forEach((r: unknown, i) => {
    if (!isObject(r)) return bad(`rows[${i}]`, 'an object');
    for (const key of ['metric', 'unit', 'baselineName', 'goal'] as const) if (typeof r[key] !== 'string') bad(`rows[${i}].${key}`, 'a string');
    // NaN and Infinity are written as null by JSON.stringify.
    for (const key of ['ours', 'baseline', 'ratio'] as const) if (typeof r[key] !== 'number' && r[key] !== null) bad(`rows[${i}].${key}`, 'a number');
  });
  if (file['title'] !== undefined && typeof file['title'] !== 'string') bad('title', 'a string');
  if (file['notes'] !== undefined && !(Array.isArray(file['notes']) && file['notes'].every((n) => typeof n === 'string'))) bad('notes', 'an array of strings');
  const list = (key: string): unknown[] => {
    const v = file[key];
    if (v === undefined) return [];
    return Array.isArray(v) ? v : bad(key, 'an array');
  };
  list('distributions').forEach((d, i) => {
    if (!isObject(d) || typeof d['group'] !== 'string' || typeof d['label'] !== 'string' || typeof d['inFlight'] !== 'number' || !isPairs(d['percentilesUs'])) {
      bad(`distributions[${i}]`, 'a distribution (group, label, inFlight, percentilesUs)');
    }
  });
  list('series').forEach((s, i) => {
    const lines = isObject(s) ? s['lines'] : undefined;
    const ok =
      isObject(s) &&
      ['title', 'xLabel', 'yLabel'].every((k) => typeof s[k] === 'string') &&
      Array.isArray(lines) &&
      lines.every((l) => isObject(l) && typeof l['label'] === 'string' && isPairs(l['points']));
    if (!ok) bad(`series[${i}]`, 'a series (title, xLabel, yLabel, lines of label and points)');
  });
  return file as unknown as ResultFile;
}
