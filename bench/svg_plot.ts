// A line plot as inline SVG, for the HTML report: a few lines of [x, y]
// points on shared axes, a legend under the plot, and each point's figure in
// a tooltip. d3-scale does the mapping and the y ticks; the x ticks are the
// x values measured (in-flight levels, executor counts) or, for latency
// percentiles, the nines. Nothing is fetched when the page is viewed.

import { scaleLinear, scaleLog } from 'd3-scale';
import { el, textEl } from './markup.js';
import type { SeriesLine } from './report.js';

export interface PlotSpec {
  title: string;
  x: {
    label: string;
    /**
     * `linear`; `log` (base 2, for in-flight levels that double); `nines`:
     * x is a percentile, placed at -log10(1 - p/100) so p50, p90, p99, p99.9
     * and p99.99 are evenly apart, as HDR histogram plots show tails.
     */
    scale: 'linear' | 'log' | 'nines';
  };
  y: { label: string; scale: 'linear' | 'log'; unit: string };
  lines: SeriesLine[];
}

const WIDTH = 480;
const MARGIN = { left: 64, right: 18 };
/** Height of the area the lines are drawn in. */
const AREA_HEIGHT = 190;
const TITLE_ROW = 15;
/** Characters of title per line at its font size: longer titles wrap. */
const TITLE_WIDTH = 66;
/** From the bottom of the area to the legend: tick labels and the x axis label. */
const X_AXIS_HEIGHT = 50;
const LEGEND_ROW = 17;
/** Tableau 10: distinguishable, and readable for the common colour blindnesses. */
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const NINES_TICKS = [50, 90, 99, 99.9, 99.99];

/**
 * Colour and dash of each line: measured lines take the palette in order
 * (past ten, colours repeat and dashes tell them apart); a derived line is
 * dashed in the colour of the line it comes from.
 */
function strokes(lines: SeriesLine[]): { color: string; dash: string | undefined }[] {
  const out: { color: string; dash: string | undefined }[] = [];
  const colorOf = new Map<string, string>();
  let measured = 0;
  lines.forEach((line, i) => {
    if (line.derivedFrom) return;
    const color = PALETTE[measured % PALETTE.length]!;
    out[i] = { color, dash: measured >= PALETTE.length ? '2 3' : undefined };
    if (!colorOf.has(line.label)) colorOf.set(line.label, color);
    measured++;
  });
  lines.forEach((line, i) => {
    if (line.derivedFrom) out[i] = { color: colorOf.get(line.derivedFrom) ?? PALETTE[measured++ % PALETTE.length]!, dash: '6 4' };
  });
  return out;
}

/** `text` in lines of at most `width` characters, broken at spaces (a longer word keeps its own line). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const word of text.split(' ')) {
    const last = lines.at(-1);
    if (last !== undefined && last.length + 1 + word.length <= width) lines[lines.length - 1] = `${last} ${word}`;
    else lines.push(word);
  }
  return lines;
}

const nines = (p: number): number => -Math.log10(1 - p / 100);

/** Microseconds in the unit that keeps the figure short: "850 µs", "1.2 ms", "3 s". */
export function formatMicros(us: number): string {
  const short = (n: number): string => String(Number(n.toPrecision(3)));
  if (us >= 1e6) return `${short(us / 1e6)} s`;
  if (us >= 1e3) return `${short(us / 1e3)} ms`;
  return `${short(us)} µs`;
}

/** A y figure as a tick label or tooltip says it: µs in a fitting unit, anything else with SI prefixes (and `unit` after, if given). */
function formatY(n: number, unit: string): string {
  if (unit === 'µs') return formatMicros(n);
  const short = n >= 1e6 ? `${Number((n / 1e6).toPrecision(3))}M` : n >= 1e4 ? `${Number((n / 1e3).toPrecision(3))}k` : String(Number(n.toPrecision(3)));
  return unit ? `${short} ${unit}` : short;
}

function formatX(x: number, scale: PlotSpec['x']['scale']): string {
  return scale === 'nines' ? `p${x}` : String(x);
}

const finite = (values: number[]): number[] => values.filter((v) => Number.isFinite(v));

/** The plot as an `<svg>` element with a `<g class="series">` per line, in `lines` order. */
export function linePlot(spec: PlotSpec): string {
  const { x: xAxis, y: yAxis } = spec;
  const lines = spec.lines.map((l) => ({ ...l, points: l.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)) }));
  const titleLines = wrap(spec.title, TITLE_WIDTH);
  const left = MARGIN.left;
  const right = WIDTH - MARGIN.right;
  const top = 8 + titleLines.length * TITLE_ROW + 8;
  const bottom = top + AREA_HEIGHT;
  const legendTop = bottom + X_AXIS_HEIGHT;
  const height = legendTop + lines.length * LEGEND_ROW + 8;

  // --- x: the measured values (or the nines) as ticks ---
  const xs = [...new Set(lines.flatMap((l) => l.points.map(([x]) => x)))].sort((a, b) => a - b);
  const toX = xAxis.scale === 'nines' ? nines : (x: number): number => x;
  const xTicks = xAxis.scale === 'nines' ? NINES_TICKS.filter((p) => xs.length === 0 || (p >= xs[0]! && p <= xs.at(-1)!)) : xs;
  const xDomain = finite([...xs, ...xTicks].map(toX));
  const [xLo, xHi] = xDomain.length > 0 ? [Math.min(...xDomain), Math.max(...xDomain)] : [0, 1];
  const xScale =
    xAxis.scale === 'log' && xLo > 0
      ? scaleLog()
          .base(2)
          .domain(xLo === xHi ? [xLo / 2, xHi * 2] : [xLo, xHi])
          .range([left, right])
      : scaleLinear()
          .domain(xLo === xHi ? [xLo - 1, xHi + 1] : [xLo, xHi])
          .range([left, right]);
  const px = (x: number): number => xScale(toX(x));

  // --- y: from 0 (linear) or over the span of the data (log), with nice ticks ---
  const ys = finite(lines.flatMap((l) => l.points.map(([, y]) => y)));
  const yMax = Math.max(1, ...ys);
  let yScale;
  let yTicks: number[];
  if (yAxis.scale === 'log') {
    const yMin = Math.max(1, Math.min(yMax, ...ys));
    yScale = scaleLog()
      .domain(yMin === yMax ? [yMin / 2, yMax * 2] : [yMin, yMax])
      .nice()
      .range([bottom, top]);
    // 1, 2 and 5 of each decade (only 1 past three decades): enough to read a value, few enough to read the labels.
    const [lo, hi] = yScale.domain() as [number, number];
    const leading = Math.log10(hi / lo) > 3 ? [1] : [1, 2, 5];
    yTicks = yScale.ticks().filter((t) => leading.includes(Number(t.toExponential().split('e')[0])));
  } else {
    yScale = scaleLinear().domain([0, yMax]).nice().range([bottom, top]);
    yTicks = yScale.ticks(6);
  }
  const py = (y: number): number => yScale(yAxis.scale === 'log' ? Math.max(1, y) : y);
  const r = (n: number): string => n.toFixed(1);

  const grid = [
    ...yTicks.map((t) =>
      el(
        'g',
        { class: 'tick y' },
        el('line', { x1: left, x2: right, y1: r(py(t)), y2: r(py(t)) }),
        textEl('text', { x: left - 6, y: r(py(t) + 4), 'text-anchor': 'end' }, formatY(t, yAxis.unit === 'µs' ? 'µs' : '')),
      ),
    ),
    ...xTicks.map((t) =>
      el(
        'g',
        { class: 'tick x' },
        el('line', { x1: r(px(t)), x2: r(px(t)), y1: top, y2: bottom }),
        textEl('text', { x: r(px(t)), y: bottom + 16, 'text-anchor': 'middle' }, formatX(t, xAxis.scale)),
      ),
    ),
  ];

  const stroke = strokes(lines);
  const series = lines.map((line, i) => {
    const { color, dash } = stroke[i]!;
    const points = [...line.points].sort(([a], [b]) => a - b);
    const dots = points.map(([x, y]) =>
      el('circle', { cx: r(px(x)), cy: r(py(y)), r: 3, fill: color }, textEl('title', {}, `${line.label}, ${formatX(x, xAxis.scale)}: ${formatY(y, yAxis.unit)}`)),
    );
    const path = el('polyline', { fill: 'none', stroke: color, 'stroke-width': 2, 'stroke-dasharray': dash, points: points.map(([x, y]) => `${r(px(x))},${r(py(y))}`).join(' ') });
    return el('g', { class: 'series', 'data-series': line.label }, path, ...dots);
  });

  const legend = lines.map((line, i) => {
    const { color, dash } = stroke[i]!;
    const y = legendTop + i * LEGEND_ROW + 4;
    return el(
      'g',
      { class: 'legend-entry' },
      el('line', { x1: left, x2: left + 22, y1: y, y2: y, stroke: color, 'stroke-width': 2, 'stroke-dasharray': dash }),
      textEl('text', { x: left + 28, y: y + 4 }, line.label),
    );
  });

  return el(
    'svg',
    { xmlns: 'http://www.w3.org/2000/svg', class: 'plot', width: WIDTH, height, viewBox: `0 0 ${WIDTH} ${height}`, role: 'img', 'aria-label': spec.title },
    textEl('title', {}, spec.title),
    ...titleLines.map((line, i) => textEl('text', { class: 'plot-title', x: WIDTH / 2, y: 8 + (i + 1) * TITLE_ROW, 'text-anchor': 'middle' }, line)),
    el('g', { class: 'grid' }, ...grid),
    el('rect', { class: 'frame', x: left, y: top, width: right - left, height: bottom - top, fill: 'none' }),
    textEl('text', { class: 'axis-label', x: (left + right) / 2, y: bottom + 36, 'text-anchor': 'middle' }, xAxis.label),
    textEl('text', { class: 'axis-label', x: 14, y: (top + bottom) / 2, 'text-anchor': 'middle', transform: `rotate(-90 14 ${(top + bottom) / 2})` }, yAxis.label),
    el('g', { class: 'lines' }, ...series),
    el('g', { class: 'legend' }, ...legend),
  );
}
