// bench/results/report.html: every bench's results file as one static page
// (tables, notes, and inline SVG plots), readable offline, from the JSON
// alone, so it can be rendered again without running anything. Files from
// before the optional fields existed still get their table.

import { writeFile } from 'node:fs/promises';
import { el, escapeXml, textEl } from './markup.js';
import { meets, readResults, RESULTS_DIR, value, type Distribution, type ResultFile, type Row, type Series } from './report.js';
import { linePlot } from './svg_plot.js';
import { faultHarnessSection } from './verify_section.js';
import { readVerifyResults, VERIFY_RESULTS_DIR, type VerifyResultFile } from '../verify/results.js';

export const REPORT_FILE = 'report.html';

/** Where the page links to, relative to bench/results/. */
const SCALING_DOC = '../../docs/scaling.md';
const BENCH_README = '../README.md';

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1040px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
h2 { margin-top: 2.2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 3px 8px; text-align: left; vertical-align: top; }
td.nowrap { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.met td.result { color: #1b7a2f; font-weight: 600; }
tr.missed td.result { color: #b3261e; font-weight: 600; }
tr.info td.result { color: #888; }
.meta, .title { color: #555; }
ul.notes { color: #444; font-size: 13px; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
svg.plot { background: #fff; border: 1px solid #eee; font-size: 11px; }
svg.plot .plot-title { font-size: 12px; font-weight: 600; }
svg.plot .tick line { stroke: #eee; }
svg.plot .frame { stroke: #999; }
svg.plot text { fill: #333; }
`;

type Verdict = 'met' | 'missed' | 'info';

function verdict(r: Row): Verdict {
  const ok = meets(r.ratio, r.goal);
  return ok === undefined ? 'info' : ok ? 'met' : 'missed';
}

const VERDICT_TEXT: Record<Verdict, string> = { met: 'met', missed: 'missed', info: '—' };

/** A bench name as an id: letters, digits and dashes only. */
const anchor = (bench: string): string => `bench-${bench.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;

function goalsOf(file: ResultFile): { judged: number; missed: Row[] } {
  const judged = file.rows.filter((r) => verdict(r) !== 'info');
  return { judged: judged.length, missed: judged.filter((r) => verdict(r) === 'missed') };
}

function summaryTable(files: ResultFile[]): string {
  const rows = files.map((file) => {
    const { judged, missed } = goalsOf(file);
    return el(
      'tr',
      { class: missed.length > 0 ? 'missed' : judged > 0 ? 'met' : 'info' },
      el('td', {}, el('a', { href: `#${anchor(file.bench)}` }, escapeXml(file.bench))),
      textEl('td', { class: 'nowrap' }, file.at),
      textEl('td', { class: 'num result' }, `${judged - missed.length} of ${judged}`),
      textEl('td', {}, missed.map((r) => `${r.metric} vs ${r.baselineName} (${value(r.ratio, '').trim()} against ${r.goal})`).join('; ') || '—'),
    );
  });
  return el(
    'table',
    { class: 'summary' },
    el('thead', {}, el('tr', {}, ...['bench', 'run at', 'goals met', 'missed'].map((h) => textEl('th', {}, h)))),
    el('tbody', {}, ...rows),
  );
}

function rowsTable(file: ResultFile): string {
  const header = ['metric', 'ours', 'baseline', 'baseline name', 'ratio', 'goal', 'result'];
  const rows = file.rows.map((r) => {
    const v = verdict(r);
    return el(
      'tr',
      { class: v, 'data-metric': r.metric, 'data-baseline': r.baselineName },
      textEl('td', { class: 'metric' }, r.metric),
      textEl('td', { class: 'num' }, value(r.ours, r.unit)),
      textEl('td', { class: 'num' }, value(r.baseline, r.unit)),
      textEl('td', {}, r.baselineName),
      textEl('td', { class: 'num' }, value(r.ratio, '').trim()),
      textEl('td', { class: 'num' }, r.goal),
      textEl('td', { class: 'result' }, VERDICT_TEXT[v]),
    );
  });
  return el('table', { class: 'rows' }, el('thead', {}, el('tr', {}, ...header.map((h) => textEl('th', {}, h)))), el('tbody', {}, ...rows));
}

/** Largest ÷ smallest of positive figures; 0 when any is not positive (a log axis could not show it). */
function spread(values: number[]): number {
  return values.length > 0 && Math.min(...values) > 0 ? Math.max(...values) / Math.min(...values) : 0;
}

/**
 * In-flight levels double, so they read best on a log axis, a handful of
 * executors or shards on a linear one. Throughputs of one magnitude share a
 * linear axis (which shows how far from linear scaling they are); ones far
 * apart (Redis beside a call) a log one, or the smaller would be a flat line.
 */
function throughputPlot(series: Series): string {
  const xs = series.lines.flatMap((l) => l.points.map(([x]) => x));
  const ys = series.lines.flatMap((l) => l.points.map(([, y]) => y));
  return linePlot({
    title: series.title,
    x: { label: series.xLabel, scale: spread(xs) >= 8 ? 'log' : 'linear' },
    y: { label: series.yLabel, scale: spread(ys) >= 20 ? 'log' : 'linear', unit: series.yLabel },
    lines: series.lines,
  });
}

/** One plot per (group, in-flight level), one curve per system, in the order the points were measured. */
function latencyPlots(distributions: Distribution[]): string[] {
  const plots = new Map<string, { group: string; inFlight: number; curves: Distribution[] }>();
  for (const d of distributions) {
    const key = JSON.stringify([d.group, d.inFlight]);
    (plots.get(key) ?? plots.set(key, { group: d.group, inFlight: d.inFlight, curves: [] }).get(key)!).curves.push(d);
  }
  return [...plots.values()].map(({ group, inFlight, curves }) =>
    linePlot({
      title: `${group ? `${group}: ` : ''}latency at ${inFlight} in flight`,
      x: { label: 'percentile', scale: 'nines' },
      y: { label: 'latency', scale: 'log', unit: 'µs' },
      lines: curves.map((d) => ({ label: `${d.label} (${d.ops.toLocaleString('en-US')} ops)`, points: d.percentilesUs })),
    }),
  );
}

function benchSection(file: ResultFile): string {
  const parts = [
    textEl('h2', {}, file.bench),
    ...(file.title ? [textEl('p', { class: 'title' }, file.title)] : []),
    textEl('p', { class: 'meta' }, `run at ${file.at} on node ${file.node}, ${file.cpus} cpus`),
    rowsTable(file),
  ];
  if (file.notes && file.notes.length > 0) parts.push(el('ul', { class: 'notes' }, ...file.notes.map((n) => textEl('li', {}, n))));
  if (file.series && file.series.length > 0) {
    parts.push(textEl('h3', {}, 'Throughput'), el('div', { class: 'plots throughput' }, ...file.series.map(throughputPlot)));
  }
  if (file.distributions && file.distributions.length > 0) {
    parts.push(
      textEl('h3', {}, 'Latency distributions'),
      textEl('p', { class: 'meta' }, 'Percentiles of each point\'s HDR histogram, p50 to p99.99; a tail percentile of fewer operations than it needs (p99.99 of fewer than 10,000) is the slowest few.'),
      el('div', { class: 'plots latency' }, ...latencyPlots(file.distributions)),
    );
  }
  return el('section', { id: anchor(file.bench), class: 'bench' }, ...parts);
}

/** The whole page, from results files in the order given (and the fault harness's, if any). Deterministic for a given input. */
export function renderReport(files: ResultFile[], generatedAt: Date, verify: VerifyResultFile[] = []): string {
  const intro = el(
    'p',
    {},
    escapeXml(
      'Every figure is divided by a baseline measured in the same run, on the same machine, at the same concurrency, because absolute numbers on a shared ' +
        'machine move with whatever else it is doing. ratio = ours ÷ baseline, for throughputs and latencies alike. How each bench measures: ',
    ),
    el('a', { href: BENCH_README }, 'bench/README.md'),
    escapeXml('. How throughput extends across machines through a NATS cluster: '),
    el('a', { href: SCALING_DOC }, 'docs/scaling.md'),
    '.',
  );
  const body = el(
    'body',
    {},
    textEl('h1', {}, 'cloudburst-ts benchmarks'),
    textEl('p', { class: 'meta' }, `Rendered ${generatedAt.toISOString()} from bench/results/*.json (npm run bench -- report renders it again).`),
    intro,
    summaryTable(files),
    ...files.map(benchSection),
    faultHarnessSection(verify),
  );
  const head = el('head', {}, el('meta', { charset: 'utf-8' }), textEl('title', {}, 'cloudburst-ts benchmarks'), el('style', {}, STYLE));
  return `<!DOCTYPE html>\n${el('html', { xmlns: 'http://www.w3.org/1999/xhtml', lang: 'en' }, head, body)}\n`;
}

/**
 * Renders bench/results/report.html from bench/results/*.json, benches named
 * in `order` first, in that order, then the fault harness's
 * verify/results/*.json. Returns its path.
 */
export async function writeReport(order: string[] = [], dir = RESULTS_DIR, verifyDir = VERIFY_RESULTS_DIR): Promise<string> {
  const rank = (bench: string): number => (order.includes(bench) ? order.indexOf(bench) : order.length);
  const files = (await readResults(dir)).sort((a, b) => rank(a.bench) - rank(b.bench));
  const path = `${dir}${REPORT_FILE}`;
  await writeFile(path, renderReport(files, new Date(), await readVerifyResults(verifyDir)));
  return path;
}
