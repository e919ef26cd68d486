// Checker of the `sets` workload: lattice sets, a grow-only counter and a
// max register, judged against the final state (every key read from every
// replica once the cluster has healed).
//
// Operations (invoke values):
//   add  {key, element}  a function merged SetLattice([element]) into key
//   put  {key, element}  the client merged SetLattice([element]) into key
//   incr {key, id}       a function merged SetLattice([`${id}#${nonce}`])
//                        into counter key, with a nonce it drew itself, so a
//                        re-run of the function (a retry that was not
//                        exactly-once) adds a second element for one id: the
//                        counter's value is the number of elements, and a
//                        duplicate application shows as two nonces of one id.
//                        Several ops may share an id (retries of one
//                        increment); they are one increment.
//   bump {key, value}    a function merged MaxIntLattice(value) into key
//
// Final state: {sets: {key: elements}, counters: {key: entries}, max: {key: number | null}}.
//
// Promises (anomaly kinds):
//   lost-add            an ok add/put whose element is missing from the final set
//   phantom-element     a final element no add/put of that key was invoked with
//   failed-op-visible   a final element or increment whose every op failed
//                       (fail means certainly not applied)
//   lost-increment      an increment id with an ok op but no entry in the counter
//   duplicate-increment an increment id with two or more entries (applied twice)
//   phantom-increment   an entry whose id no incr of that key was invoked with
//   lost-max            a final max below an ok bump's value
//   phantom-max         a final max that no bump of that key was invoked with
// An `info` (or pending) op may or may not have happened: its element or
// increment may be present once or absent, never flagged either way.

import type { CheckResult, History } from '../workload.js';
import { Anomalies, brief, calls, checkRunsOnce, record, type Call } from './history.js';

export interface SetsFinal {
  sets: Record<string, (string | number)[]>;
  counters: Record<string, string[]>;
  max: Record<string, number | null>;
}

interface Arg {
  key: string;
  element?: string | number;
  id?: string;
  value?: number;
}

const arg = (call: Call): Arg => record(call.args) as unknown as Arg;

/** Groups calls by a string derived from their arguments. */
function byKey(list: Call[], keyOf: (a: Arg) => string | undefined): Map<string, Call[]> {
  const out = new Map<string, Call[]>();
  for (const call of list) {
    const k = keyOf(arg(call));
    if (k === undefined) continue;
    const group = out.get(k);
    if (group) group.push(call);
    else out.set(k, [call]);
  }
  return out;
}

export function checkSets(history: History, final: unknown): CheckResult {
  const state = record(final) as unknown as Partial<SetsFinal>;
  const sets = state.sets ?? {};
  const counters = state.counters ?? {};
  const maxes = state.max ?? {};
  const all = calls(history);
  const anomalies = new Anomalies();

  // Sets: by key and element.
  const adds = all.filter((c) => c.f === 'add' || c.f === 'put');
  const addsOf = byKey(adds, (a) => `${a.key}\u0000${String(a.element)}`);
  let elements = 0;
  for (const [key, present] of Object.entries(sets)) {
    for (const element of present) {
      elements++;
      const ops = addsOf.get(`${key}\u0000${String(element)}`);
      if (!ops) anomalies.add('phantom-element', { key, element });
      else if (ops.every((c) => c.type === 'fail')) anomalies.add('failed-op-visible', { key, element, ops: ops.map(brief) });
    }
  }
  const present = new Map(Object.entries(sets).map(([key, list]) => [key, new Set<string | number>(list)]));
  for (const call of adds) {
    if (call.type !== 'ok') continue;
    const { key, element } = arg(call);
    if (element === undefined || !(present.get(key)?.has(element) ?? false)) anomalies.add('lost-add', brief(call));
  }

  // Counters: entries `${id}#${nonce}` (the nonce has no '#'), grouped by id.
  const incrs = all.filter((c) => c.f === 'incr');
  const incrsOf = byKey(incrs, (a) => `${a.key}\u0000${a.id}`);
  const entries = checkRunsOnce(
    counters,
    incrsOf,
    { phantom: 'phantom-increment', failedVisible: 'failed-op-visible', duplicate: 'duplicate-increment', lost: 'lost-increment' },
    anomalies,
  );

  // Max registers.
  const bumps = all.filter((c) => c.f === 'bump');
  for (const [key, max] of Object.entries(maxes)) {
    const mine = bumps.filter((c) => arg(c).key === key);
    for (const call of mine) if (call.type === 'ok' && (max === null || max < arg(call).value!)) anomalies.add('lost-max', { key, final: max, op: brief(call) });
    if (max !== null && !mine.some((c) => c.type !== 'fail' && arg(c).value === max)) anomalies.add('phantom-max', { key, final: max });
  }

  return anomalies.result({
    ops: all.length,
    adds: adds.length,
    addsOk: adds.filter((c) => c.type === 'ok').length,
    elements,
    increments: incrsOf.size,
    incrOps: incrs.length,
    counterEntries: entries,
    bumps: bumps.length,
    info: all.filter((c) => c.type === 'info' || c.type === 'pending').length,
  });
}
