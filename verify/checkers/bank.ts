// Checker of the `bank` workload: atomic, exactly-once transfers and atomic
// audits.
//
// Each client process owns a pair of accounts and a ledger (a plain list of
// transfer ids): every transfer moves money inside one pair and appends its
// id to the pair's ledger, in one transaction. Audits read every ledger and
// account.
//
// Operations (invoke values; ok values):
//   transfer {id, from, to, amount, ledger, dag}  several ops may share an id
//                                            (retries under one request id)
//   audit    {}; ok: {balances: {account: n}, ledgers: {ledger: ids}}
// Final state: {initial: {account: n}, pairs: {ledger: [account, account]},
//   balances: {account: n | null}, ledgers: {ledger: ids}}.
//
// Promises (anomaly kinds):
//   wrong-total             an ok audit whose balances do not sum to the
//                           initial total
//   audit-ledger-mismatch   an ok audit whose balances of a pair differ from
//                           the initial balances plus the transfers in the
//                           ledger it read (it saw part of a transfer)
//   lost-transfer           an id with an ok transfer op missing from the
//                           final ledger
//   duplicate-transfer      an id twice in a ledger (final or audited)
//   phantom-transfer        an id in a ledger that no transfer op (other than
//                           failed ones) was invoked with
//   balance-mismatch        final balances of a pair differ from the initial
//                           balances plus the transfers in the final ledger
// An `info` transfer may or may not have happened: its id may be in the
// ledger once or not at all; either way the balances must agree with the
// ledger. Audits that did not complete ok are not judged.

import type { CheckResult, History } from '../workload.js';
import { Anomalies, brief, calls, record, type Call } from './history.js';

export interface BankFinal {
  initial: Record<string, number>;
  pairs: Record<string, [string, string]>;
  balances: Record<string, number | null>;
  ledgers: Record<string, string[]>;
}

interface Transfer {
  id: string;
  from: string;
  to: string;
  amount: number;
  ledger: string;
}

interface AuditResult {
  balances: Record<string, number>;
  ledgers: Record<string, string[]>;
}

/** The balances of `pair` after the transfers in `ids`, from `initial` (an id no transfer has is skipped: it is reported as a phantom). */
function replay(ids: string[], pair: [string, string], initial: Record<string, number>, transfers: Map<string, Transfer>): Record<string, number> {
  const out: Record<string, number> = { [pair[0]]: initial[pair[0]] ?? 0, [pair[1]]: initial[pair[1]] ?? 0 };
  for (const id of ids) {
    const t = transfers.get(id);
    if (!t || !(t.from in out) || !(t.to in out)) continue;
    out[t.from]! -= t.amount;
    out[t.to]! += t.amount;
  }
  return out;
}

export function checkBank(history: History, final: unknown): CheckResult {
  const state = record(final) as unknown as Partial<BankFinal>;
  const initial = state.initial ?? {};
  const pairs = state.pairs ?? {};
  const total = Object.values(initial).reduce((s, n) => s + n, 0);
  const all = calls(history);
  const anomalies = new Anomalies();

  const transferOps = all.filter((c) => c.f === 'transfer');
  const transfers = new Map<string, Transfer>();
  const opsOf = new Map<string, Call[]>();
  for (const call of transferOps) {
    const t = record(call.args) as unknown as Transfer;
    if (call.type !== 'fail' && !transfers.has(t.id)) transfers.set(t.id, t);
    opsOf.set(t.id, [...(opsOf.get(t.id) ?? []), call]);
  }

  /** Checks one ledger's ids: duplicates and phantoms, reported under `where`. */
  const checkIds = (where: unknown, ids: string[]): void => {
    const seen = new Set<string>();
    for (const id of ids) {
      if (seen.has(id)) anomalies.add('duplicate-transfer', { where, id });
      seen.add(id);
      if (!transfers.has(id)) anomalies.add('phantom-transfer', { where, id, ops: opsOf.get(id)?.map(brief) });
    }
  };
  const samePair = (a: Record<string, number | null | undefined>, b: Record<string, number>, pair: [string, string]): boolean => pair.every((acct) => a[acct] === b[acct]);

  // Audits.
  let audits = 0;
  for (const call of all) {
    if (call.f !== 'audit' || call.type !== 'ok') continue;
    audits++;
    const r = record(call.result) as unknown as AuditResult;
    const balances = r.balances ?? {};
    const sum = Object.values(balances).reduce((s, n) => s + n, 0);
    if (sum !== total) anomalies.add('wrong-total', { ...brief(call), total: sum, expected: total });
    for (const [ledger, pair] of Object.entries(pairs)) {
      const ids = r.ledgers?.[ledger] ?? [];
      checkIds({ audit: call.invokeIndex, ledger }, ids);
      const expected = replay(ids, pair, initial, transfers);
      if (!samePair(balances, expected, pair)) {
        anomalies.add('audit-ledger-mismatch', { audit: call.invokeIndex, ledger, read: pair.map((a) => balances[a]), expected: pair.map((a) => expected[a]), ledgerLength: ids.length });
      }
    }
  }

  // Final state.
  const inLedger = new Set<string>();
  for (const [ledger, pair] of Object.entries(pairs)) {
    const ids = state.ledgers?.[ledger] ?? [];
    for (const id of ids) inLedger.add(id);
    checkIds({ final: ledger }, ids);
    const expected = replay(ids, pair, initial, transfers);
    const balances = state.balances ?? {};
    if (!samePair(balances, expected, pair)) anomalies.add('balance-mismatch', { ledger, final: pair.map((a) => balances[a]), expected: pair.map((a) => expected[a]) });
  }
  for (const [id, ops] of opsOf) {
    const ok = ops.find((c) => c.type === 'ok');
    if (ok && !inLedger.has(id)) anomalies.add('lost-transfer', brief(ok));
  }

  return anomalies.result({
    ops: all.length,
    transfers: opsOf.size,
    transfersOk: [...opsOf.values()].filter((ops) => ops.some((c) => c.type === 'ok')).length,
    transferOps: transferOps.length,
    inLedgers: inLedger.size,
    audits,
    info: all.filter((c) => c.type === 'info' || c.type === 'pending').length,
  });
}
