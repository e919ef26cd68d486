// The report's "Fault harness" part: for each verify/results/<workload>.json
// (npm run verify), a small table of its run and its control run: seed,
// nemeses, operations, faults, anomalies. Read from the JSON alone.

import { el, escapeXml, textEl } from './markup.js';
import type { RunSummary, VerifyResultFile } from '../verify/results.js';

const VERIFY_DOC = '../../docs/verify.md';

function anomalyText(s: RunSummary): string {
  const kinds = Object.entries(s.anomalies).map(([k, a]) => `${k} ${a.count}`);
  return kinds.length === 0 ? '0' : `${s.anomalyCount} (${kinds.join(', ')})`;
}

function row(label: string, file: VerifyResultFile, s: RunSummary | null, control: boolean): string {
  if (!s) return el('tr', { class: 'info' }, textEl('td', {}, label), textEl('td', { colspan: 6 }, 'not run'));
  // A run must find nothing; a control run must find something.
  const good = control ? s.anomalyCount > 0 : s.anomalyCount === 0;
  const ops = `${s.ops.invoked} (ok ${s.ops.ok}, fail ${s.ops.fail}, info ${s.ops.info})`;
  return el(
    'tr',
    { class: good ? 'met' : 'missed' },
    textEl('td', {}, label),
    textEl('td', { class: 'num' }, String(file.seed)),
    // The run's own nemesis: a control may run under another (Workload.controlNemesis); older files name only the file's.
    textEl('td', {}, (s.nemeses ?? file.nemeses).join(', ') || 'none'),
    textEl('td', { class: 'num' }, ops),
    textEl('td', { class: 'num' }, String(s.faultsInjected)),
    textEl('td', { class: 'num' }, `${Math.round(s.durationMs / 1000)} s`),
    textEl('td', { class: 'result' }, anomalyText(s)),
  );
}

function workloadTable(file: VerifyResultFile): string {
  const head = el('tr', {}, ...['', 'seed', 'nemeses', 'ops', 'faults', 'took', 'anomalies'].map((h) => textEl('th', {}, h)));
  return el(
    'div',
    { class: 'verify-workload', id: `verify-${file.workload.toLowerCase().replace(/[^a-z0-9]+/g, '-')}` },
    textEl('h3', {}, file.workload),
    textEl('p', { class: 'title' }, file.description),
    textEl('p', { class: 'meta' }, `run at ${file.at}, ${file.seconds} s of load; control: ${file.controlDrops}; rerun: ${file.rerun}`),
    el('table', {}, head, row('run', file, file.run, false), row('control', file, file.control, true)),
  );
}

/** The "Fault harness" part of the page; empty when there are no verify results. */
export function faultHarnessSection(files: VerifyResultFile[]): string {
  if (files.length === 0) return '';
  return el(
    'div',
    { id: 'fault-harness', class: 'verify' },
    textEl('h2', {}, 'Fault harness'),
    el(
      'p',
      {},
      escapeXml(
        'Workloads run against a local cluster of separate processes while a seeded nemesis kills, pauses, skews and restarts them; a checker judges the ' +
          'history. A run should find no anomaly; its control run drops the mechanism the checker relies on and must find some. How it works and its limits: ',
      ),
      el('a', { href: VERIFY_DOC }, 'docs/verify.md'),
      '.',
    ),
    ...files.map(workloadTable),
  );
}
