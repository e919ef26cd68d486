// Checker of the `sends` workload: accepted means finished. Judged against
// the final state, read once every acknowledged send had time to run (the
// workload's final() waits for them, up to a bound).
//
// Operations (invoke values):
//   send {key, id, delayMs}  client.send of a function that adds
//                            `${id}#${nonce}` to set `key`, with a nonce it
//                            draws itself: a second run of one send adds a
//                            second entry.
//
// Final state: {marks: {key: entries}}.
//
// Promises (anomaly kinds):
//   lost-send           an ok send (recorded) whose id has no entry: it never ran
//   duplicate-send      an id with two or more entries: it ran twice
//   phantom-mark        an entry whose id no send of that key was invoked with
//   failed-send-visible an entry whose every send failed (fail: certainly not recorded)
// An `info` send may or may not have been recorded: its id may be absent or
// present once, never flagged either way.

import type { CheckResult, History } from '../workload.js';
import { Anomalies, calls, checkRunsOnce, record } from './history.js';

export interface SendsFinal {
  marks: Record<string, string[]>;
}

export function checkSends(history: History, final: unknown): CheckResult {
  const marks = (record(final) as unknown as Partial<SendsFinal>).marks ?? {};
  const sends = calls(history).filter((c) => c.f === 'send');
  const anomalies = new Anomalies();
  const sendsOf = new Map<string, typeof sends>();
  for (const call of sends) {
    const { key, id } = record(call.args) as { key?: string; id?: string };
    const k = `${key}\u0000${id}`;
    sendsOf.set(k, [...(sendsOf.get(k) ?? []), call]);
  }
  const entries = checkRunsOnce(marks, sendsOf, { phantom: 'phantom-mark', failedVisible: 'failed-send-visible', duplicate: 'duplicate-send', lost: 'lost-send' }, anomalies);
  return anomalies.result({
    sends: sends.length,
    sendsOk: sends.filter((c) => c.type === 'ok').length,
    delayed: sends.filter((c) => ((record(c.args) as { delayMs?: number }).delayMs ?? 0) > 0).length,
    entries,
    info: sends.filter((c) => c.type === 'info' || c.type === 'pending').length,
  });
}
