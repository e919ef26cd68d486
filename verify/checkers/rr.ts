// Checker of the `rr` workload: repeatable read within one DAG call (after
// test/consistency.test.ts and bench/consistency.ts).
//
// Writers write unique values to a few plain keys; the DAG's two functions
// (possibly on different executors) each read every key, and the sink
// returns all the reads of the call. The DAG never writes these keys, so
// every read of a key in one call must return one version.
//
// Operations (invoke values; ok values):
//   write {key, value}
//   read  {}; ok: {fn, key, value | null}[] in the order they were made
//
// Promises (anomaly kinds), over ok reads:
//   non-repeatable-read  one DAG call read a key twice and got two versions
//                        (counted once per call; the example lists them)
//   phantom-read         a value no write of that key was invoked with (or
//                        only failed ones)
// Info and pending writes may or may not have happened: their values may be
// read; which version a call reads is never judged, only that it is one.

import type { CheckResult, History } from '../workload.js';
import { Anomalies, brief, calls, record } from './history.js';

interface Step {
  fn: string;
  key: string;
  value: unknown;
}

export function checkRr(history: History, _final: unknown): CheckResult {
  const all = calls(history);
  const anomalies = new Anomalies();
  const written = new Set<string>();
  for (const call of all) {
    if (call.f !== 'write' || call.type === 'fail') continue;
    const a = record(call.args);
    written.add(`${String(a['key'])}\u0000${JSON.stringify(a['value'])}`);
  }
  let reads = 0;
  let repeated = 0;
  for (const call of all) {
    if (call.f !== 'read' || call.type !== 'ok') continue;
    reads++;
    const steps = (Array.isArray(call.result) ? call.result : []) as Step[];
    const versions = new Map<string, Set<string>>();
    for (const s of steps) {
      const v = JSON.stringify(s.value ?? null);
      if (v !== 'null' && !written.has(`${s.key}\u0000${v}`)) anomalies.add('phantom-read', { ...brief(call), key: s.key, value: s.value });
      versions.set(s.key, (versions.get(s.key) ?? new Set()).add(v));
    }
    const twice = [...versions].filter(([, vs]) => vs.size > 1);
    if (steps.length > versions.size) repeated++;
    if (twice.length > 0) anomalies.add('non-repeatable-read', { ...brief(call), keys: twice.map(([key, vs]) => ({ key, versions: [...vs] })) });
  }
  return anomalies.result({ ops: all.length, writes: written.size, readsOk: reads, readsRepeatingAKey: repeated });
}
