// Checker of the `serializable` workload: read-modify-write increments of a
// few keys shared by every client process, each an exactly-once call under
// one request id (tried again under it while its outcome is unknown). Under
// `isolation: 'serializable'` no increment may be lost however many run at
// once on one key.
//
// Operations (invoke values; ok values):
//   incr {key, requestId}; ok: the value the call wrote (a number)
// Final state: {values: {key: number | null}}, read by one serializable call
// of every key (atomic in the control), after the cluster healed.
//
// A request counts as acknowledged when one of its attempts is ok; as
// unknown when none is, and one ended `info` (or is pending) other than
// TransactionAborted, which promises that the attempt committed nothing; as
// not applied otherwise.
//
// Promises (anomaly kinds):
//   lost-update       a final value below the acknowledged requests of its
//                     key (an acknowledged increment overwritten)
//   duplicate-result  two requests of one key acknowledged with the same
//                     written value (both read the same value: one of the
//                     two increments is lost, whatever the final value)
//   divergent-results two ok attempts of one request answered different
//                     values (the request ran twice)
//   too-high          a final value above the requests that may have
//                     happened (acknowledged, unknown, or aborted: an
//                     increment applied twice); `aborted-applied` when only
//                     counting the TransactionAborted ones reaches it (an
//                     aborted attempt committed after all)
//   missing-final     the final read did not answer

import type { CheckResult, History } from '../workload.js';
import { Anomalies, calls, callsByKeyAndRequest, checkRequestResults, record, type Call } from './history.js';

export interface SerializableFinal {
  /** Null: the key was never written; undefined (absent): the final read failed. */
  values?: Record<string, number | null>;
  /** Set when no final read answered. */
  error?: string;
}

const aborted = (c: Call): boolean => c.type === 'info' && (c.error ?? '').startsWith('TRANSACTION_ABORTED');

export function checkSerializable(history: History, final: unknown): CheckResult {
  const f = record(final) as unknown as Partial<SerializableFinal>;
  const values = f.values;
  const anomalies = new Anomalies();
  const all = calls(history).filter((c) => c.f === 'incr');
  const keys = callsByKeyAndRequest(history, 'incr');
  if (!values) anomalies.add('missing-final', { error: f.error ?? 'no final state' });
  let requests = 0;
  let acknowledged = 0;
  let unknown = 0;
  let abortedOnly = 0;
  for (const key of new Set([...keys.keys(), ...Object.keys(values ?? {})])) {
    const ids = keys.get(key) ?? new Map<string, Call[]>();
    let ok = 0;
    let maybe = 0;
    let abortedHere = 0;
    const byValue = new Map<string, string>();
    for (const [requestId, attempts] of ids) {
      requests++;
      const oks = attempts.filter((c) => c.type === 'ok');
      if (oks.length > 0) ok++;
      else if (attempts.some((c) => c.type !== 'fail' && !aborted(c))) maybe++;
      else if (attempts.some(aborted)) abortedHere++;
      checkRequestResults(key, requestId, attempts, byValue, anomalies);
    }
    acknowledged += ok;
    unknown += maybe;
    abortedOnly += abortedHere;
    if (!values) continue;
    const value = values[key] ?? 0;
    if (value < ok) anomalies.add('lost-update', { key, final: value, acknowledged: ok, unknown: maybe, lost: ok - value });
    if (value > ok + maybe + abortedHere) anomalies.add('too-high', { key, final: value, acknowledged: ok, unknown: maybe, aborted: abortedHere });
    else if (value > ok + maybe) anomalies.add('aborted-applied', { key, final: value, acknowledged: ok, unknown: maybe, aborted: abortedHere });
  }
  return anomalies.result({
    ops: all.length,
    keys: keys.size,
    requests,
    acknowledged,
    unknown,
    aborted: abortedOnly,
    attemptsOk: all.filter((c) => c.type === 'ok').length,
    attemptsAborted: all.filter(aborted).length,
  });
}
