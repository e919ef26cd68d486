// Checker of the `eo-counter` workload: exactly-once increments under client
// retries, including a second attempt sent while the first still runs.
//
// Each counter key is incremented by one client process at a time; an
// increment is a request id, tried by one or more ops (attempts), some of
// them at once. The function reads the counter, writes it plus one and
// returns the new value.
//
// Operations (invoke values; ok values):
//   incr {key, requestId}; ok: the new value (a number)
// Final state: {counters: {key: number | null}} (null: never written).
//
// Promises (anomaly kinds):
//   divergent-results  two ok attempts of one request id returned different
//                      values (the request ran twice)
//   duplicate-result   two request ids of one key returned the same value
//                      (one increment was lost, or one read the other's
//                      unfinished state)
//   counter-too-low    a final counter below the number of request ids of
//                      that key acknowledged ok
//   counter-too-high   a final counter above the number of request ids of
//                      that key that may have happened (ok, info or pending:
//                      an id applied twice)
// An id with no ok attempt but an info (or pending) one counts 0 or 1 in the
// final counter; an id whose every attempt failed counts 0.

import type { CheckResult, History } from '../workload.js';
import { Anomalies, calls, callsByKeyAndRequest, checkRequestResults, record, type Call } from './history.js';

export interface EoCounterFinal {
  counters: Record<string, number | null>;
}

export function checkEoCounter(history: History, final: unknown): CheckResult {
  const counters = (record(final) as unknown as Partial<EoCounterFinal>).counters ?? {};
  const anomalies = new Anomalies();
  const all = calls(history).filter((c) => c.f === 'incr');
  const keys = callsByKeyAndRequest(history, 'incr');
  let requests = 0;
  let retried = 0;
  let overlapping = 0;
  for (const key of new Set([...keys.keys(), ...Object.keys(counters)])) {
    const ids = keys.get(key) ?? new Map<string, Call[]>();
    let ok = 0;
    let maybe = 0;
    const resultOf = new Map<string, string>();
    for (const [requestId, attempts] of ids) {
      requests++;
      if (attempts.length > 1) retried++;
      // A later attempt sent before an earlier one completed (the case exactly-once must merge).
      if (attempts.some((a, i) => attempts.slice(i + 1).some((b) => a.completeIndex === undefined || b.invokeIndex < a.completeIndex))) overlapping++;
      const oks = attempts.filter((c) => c.type === 'ok');
      if (oks.length > 0) ok++;
      else if (attempts.some((c) => c.type !== 'fail')) maybe++;
      checkRequestResults(key, requestId, attempts, resultOf, anomalies);
    }
    const value = counters[key] ?? 0;
    if (value < ok) anomalies.add('counter-too-low', { key, final: value, ok, unknown: maybe });
    if (value > ok + maybe) anomalies.add('counter-too-high', { key, final: value, ok, unknown: maybe });
  }
  return anomalies.result({
    ops: all.length,
    keys: keys.size,
    requests,
    retried,
    overlapping,
    attemptsOk: all.filter((c) => c.type === 'ok').length,
    info: all.filter((c) => c.type === 'info' || c.type === 'pending').length,
  });
}
