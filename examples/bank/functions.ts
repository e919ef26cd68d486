// A bank as Cloudburst functions, every one called with `atomic: true`
// (read-atomic transactions, docs/consistency.md): a transfer's writes
// become visible together or not at all, and an audit, which reads every
// balance in one transaction, never sees half a transfer. Balances are
// whole numbers (cents) stored as plain values, and are written only by
// these functions, so only atomically.
//
// Read atomicity alone does not give an audit a constant total: after
// T1 (a→b) and then T2 (b→c), an audit may read `a` from before T1 and `b`
// from T2, whose balance includes T1's credit, since it read nothing T1
// wrote itself. So every transfer also writes `last-transfer`, and an audit
// reads it first: having read that key as of some transfer T, the audit is
// shown no version of a transfer committed after T (it would be fractured),
// and so reads every balance as of T. This relies on commit times ordering
// transfers that touch one account, as they do with the clocks of one
// machine (or synchronized ones: the skew must stay below a transfer's time).
//
// State:
//   bank/<bank>/accounts           the account names, sorted
//   bank/<bank>/balance/<account>  the balance
//   bank/<bank>/last-transfer      the id of a recent transfer ('open' at first)
//
// Shipped with the helpers below (moduleSource), and nothing else.

import type { Cb } from '../../lib/index.js';

export type TransferResult = { ok: true; balance: number } | { ok: false; reason: 'insufficient funds'; balance: number };

export interface Audit {
  total: number;
  balances: Record<string, number>;
}

export function accountsKey(bank: string): string {
  return `bank/${bank}/accounts`;
}

export function lastTransferKey(bank: string): string {
  return `bank/${bank}/last-transfer`;
}

export function balanceKey(bank: string, account: string): string {
  return `bank/${bank}/balance/${account}`;
}

/** The balance of `account`, or an error if the bank has no such account. */
export async function balanceOf(cb: Cb, bank: string, account: string): Promise<number> {
  const balance = await cb.get<number>(balanceKey(bank, account));
  if (balance === undefined) throw new Error(`bank ${bank} has no account ${account}`);
  return balance;
}

/** Opens `bank` with these opening balances; returns how many accounts it has. */
export async function openBank(cb: Cb, bank: string, balances: Record<string, number>): Promise<number> {
  if ((await cb.get(accountsKey(bank))) !== undefined) throw new Error(`bank ${bank} is already open`);
  const accounts = Object.keys(balances).sort();
  if (accounts.length < 2) throw new Error('a bank needs at least two accounts');
  for (const account of accounts) {
    const balance = balances[account];
    if (!Number.isSafeInteger(balance) || balance! < 0) throw new Error(`the opening balance of ${account} must be a whole number >= 0`);
    await cb.put(balanceKey(bank, account), balance);
  }
  await cb.put(accountsKey(bank), accounts);
  await cb.put(lastTransferKey(bank), 'open');
  return accounts.length;
}

/** Transfer `id` moves `amount` from `from` to `to`, unless `from` holds less; answers with `from`'s balance after. */
export async function transfer(cb: Cb, bank: string, id: string, from: string, to: string, amount: number): Promise<TransferResult> {
  if (from === to) throw new Error('a transfer needs two different accounts');
  if (!Number.isSafeInteger(amount) || amount <= 0) throw new Error('the amount must be a whole number > 0');
  const source = await balanceOf(cb, bank, from);
  const target = await balanceOf(cb, bank, to);
  if (source < amount) return { ok: false, reason: 'insufficient funds', balance: source };
  await cb.put(balanceKey(bank, from), source - amount);
  await cb.put(balanceKey(bank, to), target + amount);
  await cb.put(lastTransferKey(bank), id);
  return { ok: true, balance: source - amount };
}

/** Every balance and their total, read in one transaction. */
export async function audit(cb: Cb, bank: string): Promise<Audit> {
  const accounts = await cb.get<string[]>(accountsKey(bank));
  if (accounts === undefined) throw new Error(`there is no bank ${bank}`);
  // Read first for its version, not its value: it fixes which transfers
  // the balances below are read as of.
  await cb.get(lastTransferKey(bank));
  const balances: Record<string, number> = {};
  let total = 0;
  // One read at a time: the transaction picks each version so that it fits
  // the versions already read, which reads in parallel would not know of.
  for (const account of accounts) {
    balances[account] = await balanceOf(cb, bank, account);
    total += balances[account];
  }
  return { total, balances };
}
