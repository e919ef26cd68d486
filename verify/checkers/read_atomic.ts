// Checker of the `read-atomic` workload: no fractured read (after AFT's read
// atomicity, checked Elle-style from the history alone).
//
// Writers commit transactions: transaction T writes its own unique value
// t = T's id to every key of its write set W(T) (two or more keys). Readers
// read several keys in one call. A read returning value t on key k "read k
// from T"; null means the key's initial state ⊥, which precedes every write.
//
// Definition. A read R is fractured when it read some key k from T and some
// other key j in W(T) from U ≠ T (U a transaction or ⊥), where U's write of
// j certainly precedes T's write of j, so R missed T's write to j while
// seeing T's write to k. U's write of j precedes T's when:
//   1. U = ⊥ (the initial state precedes every write); or
//   2. U also wrote k (T and U both wrote k and j: whichever committed later
//      overwrote the other on both keys, and R saw the earlier one on one of
//      them; this assumes one commit order for all keys, as a transaction's
//      commit time gives); or
//   3. U completed ok more than SKEW_BOUND_MS before T was invoked (real
//      time: U committed first). Transactions are ordered by commit time on
//      the committers' clocks, and a blind write by an executor whose clock
//      is behind orders before one committed earlier in real time (the
//      harness skews clocks by up to 5 s; docs/consistency.md says so): a
//      read seeing T on one key and U on another within the bound is
//      counted in the stats (`reorderedWithinSkew`), not as an anomaly.
// A value, once read, shows its transaction committed, whatever its op's
// completion says (an info or pending write counts as committed once seen);
// no precedence is ever derived from an info write's completion time.
//
// Operations (invoke values; ok values):
//   write {id, keys}       T = id wrote id to each of keys
//   read  {keys}; ok: {key: value | null}
// Final state: {plain: {key: value | null}, atomic: {key: value | null} | null},
// every key read once every write has ended, by plain reads of every replica
// and by one atomic read (a plain read in the control).
//
// Promises (anomaly kinds), over ok reads (others returned nothing to judge):
//   fractured-read       as defined above (one per read; the example names
//                        the two keys, T, U and which rule ordered them)
//   phantom-read         a value no write of that key was invoked with
//   failed-write-visible a value whose every write op failed
//   fractured-final      the final state (plain or atomic), judged as a read
// Writes are not judged themselves.

import type { CheckResult, History } from '../workload.js';
import { Anomalies, brief, calls, precedes, record, type Call } from './history.js';

/** How far apart in real time two commits must be for their order to be the real-time one: above any clock skew the harness injects. */
export const SKEW_BOUND_MS = 10_000;

interface Txn {
  id: string;
  keys: Set<string>;
  ops: Call[];
}

export function checkReadAtomic(history: History, final: unknown): CheckResult {
  const all = calls(history);
  const anomalies = new Anomalies();
  const txns = new Map<string, Txn>();
  for (const call of all) {
    if (call.f !== 'write') continue;
    const a = record(call.args) as { id?: string; keys?: string[] };
    if (a.id === undefined) continue;
    const txn = txns.get(a.id) ?? { id: a.id, keys: new Set(a.keys ?? []), ops: [] };
    txn.ops.push(call);
    txns.set(a.id, txn);
  }
  /** Some op of U completed ok before some op of T was invoked, more than `marginMs` before. */
  const before = (u: Txn, t: Txn, marginMs: number): boolean =>
    u.ops.some((uo) => t.ops.some((to) => precedes(uo, to) && to.invokeTime - uo.completeTime! > marginMs));
  let reorderedWithinSkew = 0;
  /** Set by fracture(): the read would be fractured if commits followed real time within the skew bound. */
  let skewed = false;

  /** Values no write of that key was invoked with, or only failed ones. */
  const garbage = (read: [string, string | null][], where: Record<string, unknown>): void => {
    for (const [key, value] of read) {
      if (value === null) continue;
      const t = txns.get(value);
      if (!t || !t.keys.has(key)) anomalies.add('phantom-read', { ...where, key, value });
      else if (t.ops.every((op) => op.type === 'fail')) anomalies.add('failed-write-visible', { ...where, key, value });
    }
  };
  /** The first fracture in `read` (by the definition above), or undefined. */
  const fracture = (read: [string, string | null][]): Record<string, unknown> | undefined => {
    skewed = false;
    for (const [k, tv] of read) {
      if (tv === null) continue;
      const t = txns.get(tv);
      if (!t || !t.keys.has(k)) continue;
      for (const [j, uv] of read) {
        if (j === k || !t.keys.has(j) || uv === tv) continue;
        const u = uv === null ? undefined : txns.get(uv);
        if (uv !== null && !u) continue; // a phantom, reported on its own
        const rule = u === undefined ? 'initial' : u.keys.has(k) ? 'both-wrote-both-keys' : before(u, t, SKEW_BOUND_MS) ? 'real-time' : undefined;
        if (rule !== undefined) return { sawT: { key: k, T: tv }, missed: { key: j, read: uv }, rule };
        if (u !== undefined && before(u, t, 0)) skewed = true;
      }
    }
    return undefined;
  };

  let reads = 0;
  let fractured = 0;
  for (const call of all) {
    if (call.f !== 'read' || call.type !== 'ok') continue;
    reads++;
    const read = Object.entries(record(call.result)) as [string, string | null][];
    garbage(read, brief(call));
    const found = fracture(read);
    if (found) {
      fractured++;
      anomalies.add('fractured-read', { ...brief(call), ...found });
    } else if (skewed) reorderedWithinSkew++;
  }
  // The final state, read after every write ended, must not be fractured either.
  const finals = record(final);
  for (const which of ['plain', 'atomic'] as const) {
    if (finals[which] === undefined || finals[which] === null) continue;
    const read = Object.entries(record(finals[which])) as [string, string | null][];
    garbage(read, { final: which });
    const found = fracture(read);
    if (found) anomalies.add('fractured-final', { final: which, read: Object.fromEntries(read), ...found });
  }
  return anomalies.result({
    ops: all.length,
    transactions: txns.size,
    writesOk: [...txns.values()].filter((t) => t.ops.some((o) => o.type === 'ok')).length,
    readsOk: reads,
    fractured,
    reorderedWithinSkew,
  });
}
