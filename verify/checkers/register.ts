// Checker of the `register` workload: read-your-writes inside one call, for
// plain (last-writer-wins) values and for set lattices.
//
// Operations (invoke values; ok values):
//   write {key, value}      a function put the plain value, read the key back;
//                           ok value: what it read. Every plain key is written
//                           by one client process, one write at a time.
//   seed  {key, elements}   the client merged SetLattice(elements) into key
//   add   {key, element}    a function merged SetLattice([element]) into key,
//                           then read it back; ok value: the elements read
//
// Promises (anomaly kinds), for ok writes and adds:
//   read-not-own-write  a write read something other than its own value,
//                       where no other write of that key was still unknown
//                       (an info write of the same process may land later
//                       and legitimately win, so its value is accepted)
//   lost-own-write      an add's read lacks its own element
//   delta-only-read     an add's read holds none of the elements
//                       acknowledged (ok seed or add) before the add was
//                       invoked, though there were some: the read shows the
//                       deltas written (its own, and those of adds running at
//                       once), never merged with the stored set
//   stale-read          an add's read lacks some, not all, of the elements
//                       acknowledged more than STALE_BOUND_MS before the
//                       add was invoked. Under lww a cache hears other
//                       executors' merges by push, and a lost push only
//                       once the fault that lost it heals (plus about a
//                       heartbeat): an element acknowledged less long ago
//                       may be missing, and is only counted (stats:
//                       behindWithinBound). The bound is above the longest
//                       fault the harness makes (a pause of 4 member
//                       timeouts, 6 s) plus the heartbeats to find it.
//   phantom-element     an add's read holds an element no seed or add of that
//                       key was invoked with (or only failed ones)
// An `info` op may or may not have happened: its element may be in later
// reads or not, and it is never required in one; an info add's own read is
// unknown and not judged. Only ok ops are required, and only by operations
// invoked after they completed.

import type { CheckResult, History } from '../workload.js';
import { Anomalies, brief, calls, precedes, record, type Call } from './history.js';

interface Arg {
  key: string;
  value?: unknown;
  element?: string;
  elements?: string[];
}

const arg = (call: Call): Arg => record(call.args) as unknown as Arg;

/** The elements a seed or add call put. */
function written(call: Call): string[] {
  const a = arg(call);
  return call.f === 'seed' ? (a.elements ?? []) : a.element === undefined ? [] : [a.element];
}

/** How far behind (ms) a cached read may be; see stale-read above. */
export const STALE_BOUND_MS = 10_000;

export function checkRegister(history: History, _final: unknown): CheckResult {
  const all = calls(history);
  const anomalies = new Anomalies();
  const byKey = new Map<string, Call[]>();
  for (const call of all) {
    const { key } = arg(call);
    byKey.set(key, [...(byKey.get(key) ?? []), call]);
  }
  let writes = 0;
  let adds = 0;
  let behindWithinBound = 0;
  for (const call of all) {
    if (call.type !== 'ok') continue;
    const { key } = arg(call);
    const others = (byKey.get(key) ?? []).filter((c) => c !== call);
    if (call.f === 'write') {
      writes++;
      const own = arg(call).value;
      if (JSON.stringify(call.result) === JSON.stringify(own)) continue;
      // A write of the key still unknown when this one ran may have landed after it.
      const unknown = others.some((c) => c.f === 'write' && c.type !== 'fail' && c.type !== 'ok' && JSON.stringify(arg(c).value) === JSON.stringify(call.result));
      if (!unknown) anomalies.add('read-not-own-write', brief(call));
      continue;
    }
    if (call.f !== 'add') continue;
    adds++;
    const read = new Set(Array.isArray(call.result) ? (call.result as string[]) : []);
    const own = arg(call).element!;
    if (!read.has(own)) anomalies.add('lost-own-write', brief(call));
    const before = others.filter((c) => (c.f === 'seed' || c.f === 'add') && precedes(c, call));
    const missing = [...new Set(before.flatMap(written))].filter((e) => !read.has(e));
    const acknowledged = new Set(before.flatMap(written));
    if (missing.length > 0 && ![...read].some((e) => acknowledged.has(e))) {
      // None of what was stored before: the read shows deltas written (its own, concurrent ones), never merged with the stored set.
      anomalies.add('delta-only-read', { ...brief(call), missing: missing.slice(0, 10) });
    } else if (missing.length > 0) {
      const longAgo = new Set(before.filter((c) => call.invokeTime - c.completeTime! > STALE_BOUND_MS).flatMap(written));
      const stale = missing.filter((e) => longAgo.has(e));
      if (stale.length > 0) anomalies.add('stale-read', { ...brief(call), missing: stale.slice(0, 10) });
      else behindWithinBound++;
    }
    const possible = new Set(others.filter((c) => (c.f === 'seed' || c.f === 'add') && c.type !== 'fail').flatMap(written));
    possible.add(own);
    const phantoms = [...read].filter((e) => !possible.has(e));
    if (phantoms.length > 0) anomalies.add('phantom-element', { ...brief(call), phantoms });
  }
  return anomalies.result({
    ops: all.length,
    writesOk: writes,
    addsOk: adds,
    behindWithinBound,
    keys: byKey.size,
    info: all.filter((c) => c.type === 'info' || c.type === 'pending').length,
  });
}
