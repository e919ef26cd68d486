// The benchmark report is what people read the benches through: every row of
// every results file must be in it as written, each plot must carry the lines
// its data has, text from a results file must never become markup, and the
// page must load nothing when viewed. Rendered from fixed results files, so
// a failure here is the renderer's, not the machine's.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DOMParser, onWarningStopParsing, type Document, type Element } from '@xmldom/xmldom';
import { REPORT_FILE, renderReport, writeReport } from '../bench/html_report.js';
import { measure, type PointRecord } from '../bench/harness.js';
import { PERCENTILES, distributionOf, meets, parseResultFile, throughputSeries, value, type ResultFile } from '../bench/report.js';
import { InvalidArgument } from '../lib/errors.js';
import { DEFAULT_TOPOLOGY } from '../verify/cluster.js';
import type { VerifyResultFile } from '../verify/results.js';

const HOSTILE = `<script>alert("x")</script> & 'y' ]]> <!--`;

const curve = (base: number): [number, number][] => PERCENTILES.map((p, i) => [p, base * (i + 1)]);

/** Two benches: one with every optional field (and text that must be escaped), one from before those fields existed. */
const FILES: ResultFile[] = [
  {
    bench: 'floor',
    at: '2026-01-02T03:04:05.000Z',
    node: 'v20.19.0',
    cpus: 2,
    title: `floor: no-op call vs echo ${HOSTILE}`,
    notes: [`a note with ${HOSTILE}`, 'a second note'],
    rows: [
      { metric: 'no-op call ops/s, 32 in flight', unit: 'ops/s', ours: 10728, baseline: 37656, baselineName: 'nats-echo', ratio: 0.285, goal: '>= 0.5' },
      { metric: 'no-op call p50, 1 in flight', unit: 'µs', ours: 487, baseline: 177, baselineName: 'nats-echo', ratio: 2.75, goal: '<= 3' },
      { metric: `hostile ${HOSTILE}`, unit: 'µs', ours: 12.5, baseline: 10, baselineName: `base ${HOSTILE}`, ratio: 1.25, goal: '-' },
      // What JSON makes of 0 ÷ 0.
      { metric: 'anomalies, 1 in flight', unit: 'anomalies', ours: 0, baseline: 0, baselineName: 'lww', ratio: null as unknown as number, goal: '<= 1' },
    ],
    distributions: [
      { group: '', label: 'no-op call', inFlight: 1, ops: 4000, opsPerSec: 1000, percentilesUs: curve(400), maxUs: 9000 },
      { group: '', label: 'nats echo 64 B', inFlight: 1, ops: 12000, opsPerSec: 3000, percentilesUs: curve(150), maxUs: 4000 },
      { group: '', label: `redis ${HOSTILE}`, inFlight: 1, ops: 90000, opsPerSec: 22000, percentilesUs: curve(30), maxUs: 900 },
      { group: '', label: 'no-op call', inFlight: 32, ops: 40000, opsPerSec: 10000, percentilesUs: curve(3000), maxUs: 20000 },
      { group: '', label: 'nats echo 64 B', inFlight: 32, ops: 150000, opsPerSec: 37000, percentilesUs: curve(800), maxUs: 9000 },
    ],
    series: [
      {
        title: 'throughput against requests in flight',
        xLabel: 'requests in flight',
        yLabel: 'ops/s',
        lines: [
          { label: 'no-op call', points: [[1, 1000], [2, 1900], [4, 3500], [8, 6000], [16, 8000], [32, 10000]] },
          { label: 'nats echo 64 B', points: [[1, 3000], [2, 6000], [4, 11000], [8, 20000], [16, 30000], [32, 37000]] },
        ],
      },
      {
        title: 'no-op calls against executors',
        xLabel: 'executors',
        yLabel: 'ops/s',
        lines: [
          { label: 'no-op call', points: [[1, 5000], [2, 5200], [3, 5100]] },
          { label: 'nats echo 64 B', points: [[1, 20000], [2, 21000], [3, 19000]] },
          { label: 'ideal: n × no-op call at 1', points: [[1, 5000], [2, 10000], [3, 15000]], derivedFrom: 'no-op call' },
        ],
      },
    ],
  },
  {
    bench: 'kvs',
    at: '2026-01-02T03:10:00.000Z',
    node: 'v20.19.0',
    cpus: 2,
    rows: [{ metric: 'get ops/s, 64 B, 32 in flight', unit: 'ops/s', ours: 60000, baseline: 50000, baselineName: 'redis', ratio: 1.2, goal: '>= 1.0' }],
  },
];

const GENERATED_AT = new Date('2026-01-02T04:00:00.000Z');

/** Parsed as XML: a stray `<` or `&` anywhere, or an unclosed element, fails the parse. */
function parse(html: string): Document {
  return new DOMParser({ onError: onWarningStopParsing }).parseFromString(html, 'application/xhtml+xml');
}

const elements = (root: Document | Element, tag: string): Element[] => Array.from(root.getElementsByTagName(tag));
const text = (e: Element): string => e.textContent ?? '';
const byClass = (root: Element, tag: string, cls: string): Element[] => elements(root, tag).filter((e) => (e.getAttribute('class') ?? '').split(' ').includes(cls));

function section(doc: Document, bench: string): Element {
  const found = elements(doc, 'section').find((s) => s.getAttribute('id') === `bench-${bench}`);
  if (!found) throw new Error(`no section for ${bench}`);
  return found;
}

t.test('the report is well-formed, self-contained, and shows text from results files as text', async (t) => {
  const html = renderReport(FILES, GENERATED_AT);
  const doc = parse(html);
  t.equal(renderReport(FILES, GENERATED_AT), html, 'the same input renders the same page');

  // Nothing runs or loads when the page is viewed.
  for (const tag of ['script', 'link', 'img', 'iframe', 'object', 'embed']) t.equal(elements(doc, tag).length, 0, `no <${tag}>`);
  const everything = elements(doc, '*');
  t.notOk(
    everything.some((e) => e.hasAttribute('src') || /^https?:/.test(e.getAttribute('href') ?? '')),
    'no element fetches anything or links off the machine',
  );

  // Hostile text survived as text: it is in the page's text, never as elements.
  const floor = section(doc, 'floor');
  t.ok(text(floor).includes(`floor: no-op call vs echo ${HOSTILE}`), 'the title is there, character for character');
  t.same(elements(floor, 'li').map(text), [`a note with ${HOSTILE}`, 'a second note'], 'the notes are there as written');
  t.notOk(html.includes('<script'), 'the page holds no script tag, even from a results file');

  const hrefs = elements(doc, 'a').map((a) => a.getAttribute('href'));
  t.ok(hrefs.includes('../../docs/scaling.md'), 'the report links to the scaling model');
  t.ok(hrefs.includes('#bench-floor') && hrefs.includes('#bench-kvs'), 'the summary links to each bench');
});

t.test('every row of every results file is in its bench table, with its verdict', async (t) => {
  const doc = parse(renderReport(FILES, GENERATED_AT));
  for (const file of FILES) {
    const table = byClass(section(doc, file.bench), 'table', 'rows')[0]!;
    const body = elements(table, 'tbody')[0]!;
    const trs = elements(body, 'tr');
    t.equal(trs.length, file.rows.length, `${file.bench}: one table row per result row`);
    file.rows.forEach((r, i) => {
      const cells = elements(trs[i]!, 'td').map(text);
      t.same(cells.slice(0, 6), [r.metric, value(r.ours, r.unit), value(r.baseline, r.unit), r.baselineName, value(r.ratio, '').trim(), r.goal], `${file.bench} row ${i}: ${r.metric}`);
    });
  }
  const verdicts = elements(byClass(section(doc, 'floor'), 'table', 'rows')[0]!, 'tr')
    .slice(1)
    .map((tr) => byClass(tr, 'td', 'result').map(text)[0]);
  t.same(verdicts, ['missed', 'met', '—', 'missed'], 'a ratio that misses its goal, one that meets it, an informational row, and a ratio JSON could not hold');

  const summary = byClass(doc.documentElement!, 'table', 'summary')[0]!;
  const summaryRows = elements(elements(summary, 'tbody')[0]!, 'tr').map((tr) => elements(tr, 'td').map(text));
  t.same(
    summaryRows.map((cells) => [cells[0], cells[2]]),
    [
      ['floor', '1 of 3'],
      ['kvs', '1 of 1'],
    ],
    'the summary counts the goals met per bench',
  );
  t.match(summaryRows[0]![3], /no-op call ops\/s, 32 in flight vs nats-echo \(0\.285 against >= 0\.5\)/, 'and names what missed');
});

t.test('each plot is an svg with one series per line of its data', async (t) => {
  const doc = parse(renderReport(FILES, GENERATED_AT));
  const floor = section(doc, 'floor');
  const seriesOf = (svg: Element): string[] => byClass(svg, 'g', 'series').map((g) => g.getAttribute('data-series') ?? '');

  const throughput = elements(byClass(floor, 'div', 'throughput')[0]!, 'svg');
  t.equal(throughput.length, 2, 'one throughput plot per series');
  t.same(throughput.map(seriesOf), FILES[0]!.series!.map((s) => s.lines.map((l) => l.label)), 'with a line per series line, in order');
  t.same(
    throughput.map((svg) => elements(svg, 'circle').length),
    FILES[0]!.series!.map((s) => s.lines.reduce((n, l) => n + l.points.length, 0)),
    'and a marker per point',
  );
  const ideal = byClass(throughput[1]!, 'g', 'series')[2]!;
  const stroke = (g: Element): [string | null, string | null] => {
    const line = elements(g, 'polyline')[0]!;
    return [line.getAttribute('stroke'), line.getAttribute('stroke-dasharray')];
  };
  const measured = byClass(throughput[1]!, 'g', 'series')[0]!;
  t.equal(stroke(ideal)[0], stroke(measured)[0], 'a derived line has the colour of the line it comes from');
  t.ok(stroke(ideal)[1] && !stroke(measured)[1], 'and is dashed, where the measured one is not');

  const latency = elements(byClass(floor, 'div', 'latency')[0]!, 'svg');
  t.same(
    latency.map((svg) => elements(svg, 'title')[0]!.textContent),
    ['latency at 1 in flight', 'latency at 32 in flight'],
    'one latency plot per in-flight level',
  );
  t.same(
    latency.map((svg) => seriesOf(svg)),
    [
      ['no-op call (4,000 ops)', 'nats echo 64 B (12,000 ops)', `redis ${HOSTILE} (90,000 ops)`],
      ['no-op call (40,000 ops)', 'nats echo 64 B (150,000 ops)'],
    ],
    'each with a curve per system measured at that level',
  );
  t.same(
    byClass(latency[0]!, 'g', 'series').map((g) => elements(g, 'circle').length),
    [PERCENTILES.length, PERCENTILES.length, PERCENTILES.length],
    'each curve has a point per percentile, p50 to p99.99',
  );
  t.same(
    byClass(latency[0]!, 'g', 'tick').filter((g) => g.getAttribute('class') === 'tick x').map((g) => text(g)),
    ['p50', 'p90', 'p99', 'p99.9', 'p99.99'],
    'the percentile axis is marked in nines',
  );

  t.equal(elements(section(doc, 'kvs'), 'svg').length, 0, 'a results file without distributions or series still gets its table, and no plots');
});

t.test('results files are read back as written, and a malformed one is refused naming the file and field', async (t) => {
  const dir = `${await mkdtemp(join(tmpdir(), 'cloudburst-bench-report-'))}/`;
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const file of FILES) await writeFile(`${dir}${file.bench}.json`, JSON.stringify(file));
  const path = await writeReport(['kvs', 'floor'], dir);
  t.equal(path, `${dir}${REPORT_FILE}`);
  const doc = parse(await readFile(path, 'utf8'));
  t.same(
    elements(doc, 'section').map((s) => s.getAttribute('id')),
    ['bench-kvs', 'bench-floor'],
    'benches in the order asked for',
  );

  const bad = (mutate: (f: Record<string, unknown>) => void): string => {
    const f = JSON.parse(JSON.stringify(FILES[0])) as Record<string, unknown>;
    mutate(f);
    return JSON.stringify(f);
  };
  t.throws(() => parseResultFile('{', 'x.json'), InvalidArgument, 'not JSON');
  t.throws(() => parseResultFile(bad((f) => delete f['rows']), 'x.json'), { name: 'InvalidArgument', message: 'x.json: rows is not an array' });
  t.throws(
    () => parseResultFile(bad((f) => ((f['rows'] as Record<string, unknown>[])[1]!['ours'] = '487')), 'x.json'),
    { message: 'x.json: rows[1].ours is not a number' },
  );
  t.throws(() => parseResultFile(bad((f) => ((f['series'] as Record<string, unknown>[])[0]!['lines'] = [{ label: 'x', points: [[1]] }])), 'x.json'), {
    message: /^x\.json: series\[0\] is not a series/,
  });
  await writeFile(`${dir}broken.json`, '[]');
  await t.rejects(writeReport([], dir), { message: 'broken.json: the file is not an object' }, 'the report names the file it could not read');
});

t.test('points become distributions and throughput-against-concurrency lines', async (t) => {
  const points: PointRecord[] = [];
  for (const [group, label, levels] of [
    ['get 64 B', 'ours', [1, 4]],
    ['get 64 B', 'redis', [1, 4]],
    ['put 64 B', 'ours', [1]],
  ] as const) {
    for (const inFlight of levels) points.push({ group, label, measurement: await measure(() => Promise.resolve(), { inFlight, ops: 200 }) });
  }
  const d = distributionOf(points[0]!);
  t.same(
    d.percentilesUs.map(([p]) => p),
    [...PERCENTILES],
    'a distribution gives every percentile',
  );
  t.ok(
    d.percentilesUs.every(([, us], i) => i === 0 || us >= d.percentilesUs[i - 1]![1]) && d.maxUs >= d.percentilesUs.at(-1)![1],
    'in order, none above the max',
  );
  t.equal(d.ops, 200);

  const series = throughputSeries(points);
  t.same(
    series.map((s) => [s.title, s.lines.map((l) => [l.label, l.points.map(([x]) => x)])]),
    [['get 64 B: throughput against requests in flight', [['ours', [1, 4]], ['redis', [1, 4]]]]],
    'one plot per group with a label measured at two levels or more; a single level draws no line',
  );
  t.equal(meets(NaN, '<= 1'), false, 'a ratio that is not a number meets no goal');
});

t.test('the fault harness results get a table each: run and control, with their anomalies', async (t) => {
  const summary = (anomalies: Record<string, { count: number; examples: unknown[] }>) => ({
    durationMs: 21_000,
    phases: {},
    ops: { invoked: 10, ok: 8, fail: 1, info: 1 },
    faultsPlanned: 3,
    faultsInjected: 3,
    faults: [],
    unexpectedExits: [],
    supervisorOrphans: [],
    valid: Object.keys(anomalies).length === 0,
    anomalyCount: Object.values(anomalies).reduce((n, a) => n + a.count, 0),
    anomalies,
    stats: {},
  });
  const verify: VerifyResultFile[] = [
    {
      workload: 'smoke',
      description: `adds ${HOSTILE}`,
      controlDrops: 'the merge',
      rerun: 'npm run verify -- smoke --seed 9',
      at: '2026-01-02T03:04:05.000Z',
      seed: 9,
      seconds: 15,
      nemeses: ['kill', 'pause'],
      processes: 4,
      topology: { ...DEFAULT_TOPOLOGY },
      run: summary({}),
      control: summary({ 'lost-acknowledged-add': { count: 5, examples: [] } }),
    },
  ];
  const html = renderReport(FILES, GENERATED_AT, verify);
  const doc = parse(html);
  t.notOk(html.includes('<script'), 'text from a verify results file stays text');
  const part = doc.getElementById('fault-harness');
  t.ok(part, 'a Fault harness part');
  const rows = elements(doc.getElementById('verify-smoke')!, 'tr').slice(1);
  t.same(
    rows.map((r) => elements(r, 'td').map(text)),
    [
      ['run', '9', 'kill, pause', '10 (ok 8, fail 1, info 1)', '3', '21 s', '0'],
      ['control', '9', 'kill, pause', '10 (ok 8, fail 1, info 1)', '3', '21 s', '5 (lost-acknowledged-add 5)'],
    ],
  );
  t.same(rows.map((r) => r.getAttribute('class')), ['met', 'met'], 'a clean run and a caught control are both as they should be');
  t.equal(renderReport(FILES, GENERATED_AT).includes('fault-harness'), false, 'no part without verify results');
});
