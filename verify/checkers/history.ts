// Shared by the checkers: pairs each `invoke` of a history with its
// completion (the next op of the same process), and collects anomalies with
// a few examples each. Pure: no I/O.

import type { CheckResult, History } from '../workload.js';

/** One operation, its invocation and completion together. */
export interface Call {
  process: number;
  f: string;
  /** The invoke's value (the operation's arguments). */
  args: unknown;
  /** `pending`: the history ends before it completed (treated like `info`). */
  type: 'ok' | 'fail' | 'info' | 'pending';
  /** The ok completion's value; undefined otherwise. */
  result: unknown;
  invokeIndex: number;
  invokeTime: number;
  /** Undefined while pending. */
  completeIndex?: number;
  completeTime?: number;
  error?: string;
}

/**
 * Every operation of the history, in invocation order. A completion without
 * an invoke before it (of that process) is ignored, since no checker can
 * tell what it was.
 */
export function calls(history: History): Call[] {
  const open = new Map<number, Call>();
  const out: Call[] = [];
  for (const op of history) {
    if (op.type === 'invoke') {
      const call: Call = { process: op.process, f: op.f, args: op.value, type: 'pending', result: undefined, invokeIndex: op.index, invokeTime: op.time };
      out.push(call);
      open.set(op.process, call);
      continue;
    }
    const call = open.get(op.process);
    if (!call || call.f !== op.f) continue;
    open.delete(op.process);
    call.type = op.type;
    call.completeIndex = op.index;
    call.completeTime = op.time;
    if (op.type === 'ok') call.result = op.value;
    if (op.error !== undefined) call.error = op.error;
  }
  return out;
}

/** May have taken effect: ok, info or still pending (not fail). */
export function mayHaveHappened(call: Call): boolean {
  return call.type !== 'fail';
}

/** `a` completed ok before `b` was invoked (real-time order, on the runner's one clock). */
export function precedes(a: Call, b: Call): boolean {
  return a.type === 'ok' && a.completeIndex !== undefined && a.completeIndex < b.invokeIndex;
}

const EXAMPLES = 5;

/** Anomalies by kind, with the first few examples of each. */
export class Anomalies {
  private readonly kinds: CheckResult['anomalies'] = {};

  add(kind: string, example: unknown): void {
    const entry = (this.kinds[kind] ??= { count: 0, examples: [] });
    entry.count++;
    if (entry.examples.length < EXAMPLES) entry.examples.push(example);
  }

  result(stats: Record<string, number>): CheckResult {
    return { valid: Object.keys(this.kinds).length === 0, anomalies: this.kinds, stats };
  }
}

/** A short view of a call for an anomaly's example. */
export function brief(call: Call): Record<string, unknown> {
  return {
    process: call.process,
    f: call.f,
    type: call.type,
    args: call.args,
    result: call.result,
    invoke: call.invokeIndex,
    complete: call.completeIndex,
    // On the run's clock, as the faults' times are: which faults an anomaly falls among.
    at: [Math.round(call.invokeTime), call.completeTime === undefined ? null : Math.round(call.completeTime)],
  };
}

/** Narrows a JSON value to a record (or an empty one). */
export function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** The anomaly kinds `checkRunsOnce` reports under, per workload. */
export interface RunsOnceKinds {
  /** An entry of an id no operation of that key was invoked with. */
  phantom: string;
  /** An entry of an id whose every operation failed. */
  failedVisible: string;
  /** Two or more entries of one id. */
  duplicate: string;
  /** An id with an ok operation and no entry. */
  lost: string;
}

/**
 * Checks that each id ran exactly once, where each run of an id adds
 * `<id>#<nonce>` to a set with a nonce of its own (so a second run shows as
 * a second entry): `runs` are the final sets by key, `opsOf` the operations
 * by `${key}\u0000${id}`. Returns how many entries there were.
 */
export function checkRunsOnce(runs: Record<string, string[]>, opsOf: Map<string, Call[]>, kinds: RunsOnceKinds, anomalies: Anomalies): number {
  const ran = new Map<string, string[]>();
  let entries = 0;
  for (const [key, list] of Object.entries(runs)) {
    for (const entry of list) {
      entries++;
      // The nonce has no '#'.
      const k = `${key}\u0000${entry.slice(0, Math.max(0, entry.lastIndexOf('#')))}`;
      ran.set(k, [...(ran.get(k) ?? []), entry]);
    }
  }
  for (const [k, found] of ran) {
    const [key, id] = k.split('\u0000');
    const ops = opsOf.get(k);
    if (!ops) anomalies.add(kinds.phantom, { key, entries: found });
    else if (ops.every((c) => c.type === 'fail')) anomalies.add(kinds.failedVisible, { key, entries: found, ops: ops.map(brief) });
    if (found.length > 1) anomalies.add(kinds.duplicate, { key, id, entries: found, ops: ops?.map(brief) });
  }
  for (const [k, ops] of opsOf) {
    const ok = ops.find((c) => c.type === 'ok');
    if (ok && !ran.has(k)) anomalies.add(kinds.lost, brief(ok));
  }
  return entries;
}

/**
 * Calls `f` of a history whose arguments name a key and a request id (the
 * exactly-once counters): by key, then by request id (every attempt of one
 * request under it, in history order).
 */
export function callsByKeyAndRequest(history: History, f: string): Map<string, Map<string, Call[]>> {
  const keys = new Map<string, Map<string, Call[]>>();
  for (const call of calls(history).filter((c) => c.f === f)) {
    const { key, requestId } = record(call.args) as { key: string; requestId: string };
    let ids = keys.get(key);
    if (!ids) keys.set(key, (ids = new Map<string, Call[]>()));
    ids.set(requestId, [...(ids.get(requestId) ?? []), call]);
  }
  return keys;
}

/**
 * The results of one exactly-once request's ok attempts: `divergent-results`
 * if they differ, `duplicate-result` if another request of the same key
 * answered the same value (two increments that wrote one value: an update
 * lost). `byValue`: result → the request that answered it, per key.
 */
export function checkRequestResults(key: string, requestId: string, attempts: Call[], byValue: Map<string, string>, anomalies: Anomalies): void {
  const results = new Set(attempts.filter((c) => c.type === 'ok').map((c) => JSON.stringify(c.result)));
  if (results.size > 1) anomalies.add('divergent-results', { key, requestId, attempts: attempts.map(brief) });
  for (const r of results) {
    const other = byValue.get(r);
    if (other !== undefined) anomalies.add('duplicate-result', { key, value: JSON.parse(r) as unknown, requestIds: [other, requestId] });
    else byValue.set(r, requestId);
  }
}
