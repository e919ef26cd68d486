// Workload `bank`: transfers under `atomic` and `exactlyOnce`, audits under
// `atomic`. Each client process owns two accounts and a ledger and moves
// money between its two accounts, one transfer at a time (read atomicity is
// not isolation: two transfers racing on one account could lose an update,
// docs/consistency.md), appending the transfer's id to its ledger in the
// same transaction (half as a single call, half as a two-function DAG);
// a transfer that ends unknown is tried again under the
// same request id. Beside each process's transfers its shadow process
// audits: it reads every ledger and account in one call, again and again.
// Checker: verify/checkers/bank.ts.

import type { Cb } from '../../lib/function_api.js';
import { checkBank, type BankFinal } from '../checkers/bank.js';
import type { Workload, WorkloadContext } from '../workload.js';
import { OP_TIMEOUT_MS, shadowProcess } from './common.js';

const INITIAL = 100;
/**
 * Tries of one transfer (under one request id) before it is left unknown.
 * Many: a transfer left unknown may still commit later and race the next
 * one on the same accounts (a lost update the checker would rightly flag).
 */
const TRIES = 20;
/**
 * Pause between an audit's reads: transfers commit in between, which an
 * atomic audit must not show and the control's (plain) audits then do.
 * With audits taking turns with transfers and 2 ms pauses the control found
 * 0 to 7 anomalies a run; audits now run beside the transfers.
 */
const AUDIT_PAUSE_MS = 10;

const accountsOf = (p: number): [string, string] => [`bank/p${p}/a`, `bank/p${p}/b`];
const ledgerOf = (p: number): string => `bank/p${p}/ledger`;

function layout(processes: number): BankFinal['pairs'] {
  const pairs: BankFinal['pairs'] = {};
  for (let p = 0; p < processes; p++) pairs[ledgerOf(p)] = accountsOf(p);
  return pairs;
}

async function setup(ctx: WorkloadContext): Promise<void> {
  const { client } = ctx;
  await client.register('bank.open', async (cb: Cb, pairs: Record<string, string[]>, balance: number) => {
    for (const [ledger, accounts] of Object.entries(pairs)) {
      await cb.put(ledger, []);
      for (const account of accounts) await cb.put(account, balance);
    }
    return true;
  });
  await client.register('bank.transfer', async (cb: Cb, id: string, from: string, to: string, amount: number, ledger: string) => {
    const source = (await cb.get<number>(from)) ?? 0;
    const target = (await cb.get<number>(to)) ?? 0;
    const ids = (await cb.get<string[]>(ledger)) ?? [];
    await cb.put(from, source - amount);
    await cb.put(to, target + amount);
    await cb.put(ledger, [...ids, id]);
    return { from: source - amount, to: target + amount };
  });
  // The same transfer as a DAG: one transaction spans both stages, the sink commits it.
  await client.register('bank.debit', async (cb: Cb, id: string, from: string, amount: number, ledger: string) => {
    const source = (await cb.get<number>(from)) ?? 0;
    const ids = (await cb.get<string[]>(ledger)) ?? [];
    await cb.put(from, source - amount);
    await cb.put(ledger, [...ids, id]);
    return { amount, from: source - amount };
  });
  await client.register('bank.credit', async (cb: Cb, to: string, debit: { amount: number; from: number }) => {
    const target = (await cb.get<number>(to)) ?? 0;
    await cb.put(to, target + debit.amount);
    return { from: debit.from, to: target + debit.amount };
  });
  await client.registerDag('bank.transferDag', ['bank.debit', 'bank.credit'], [['bank.debit', 'bank.credit']]);
  // One read at a time, ledger first: an atomic read picks each version to fit those already read.
  // A pause between reads leaves transfers time to commit in between (the control's audits then see it).
  await client.register('bank.audit', async (cb: Cb, pairs: Record<string, string[]>, pauseMs: number) => {
    const balances: Record<string, number | null> = {};
    const ledgers: Record<string, string[]> = {};
    const pause = (): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, pauseMs));
    for (const [ledger, accounts] of Object.entries(pairs)) {
      ledgers[ledger] = (await cb.get<string[]>(ledger)) ?? [];
      for (const account of accounts) {
        await pause();
        balances[account] = (await cb.get<number>(account)) ?? null;
      }
    }
    return { balances, ledgers };
  });
  // Every key of the bank is written atomically only.
  await client.call('bank.open', [layout(ctx.processes), INITIAL], { atomic: true, timeoutMs: OP_TIMEOUT_MS * 4 });
}

/** Each client process moves money between its two accounts; beside it, its shadow process audits the whole bank without pause. */
async function client(ctx: WorkloadContext, process: number): Promise<void> {
  await Promise.all([transfers(ctx, process), audits(ctx, shadowProcess(ctx, process))]);
}

async function audits(ctx: WorkloadContext, process: number): Promise<void> {
  const pairs = layout(ctx.processes);
  // The control drops atomic from audits only.
  while (!ctx.signal.aborted) await ctx.op(process, 'audit', {}, () => ctx.client.call('bank.audit', [pairs, AUDIT_PAUSE_MS], { atomic: !ctx.control, timeoutMs: OP_TIMEOUT_MS }));
}

async function transfers(ctx: WorkloadContext, process: number): Promise<void> {
  const { client: cb, signal } = ctx;
  const [a, b] = accountsOf(process);
  for (let seq = 0; !signal.aborted; seq++) {
    const [from, to] = ctx.rng() < 0.5 ? [a, b] : [b, a];
    const transfer = { id: `p${process}-${seq}`, from, to, amount: 1 + Math.floor(ctx.rng() * 10), ledger: ledgerOf(process), dag: ctx.rng() < 0.5 };
    const opts = { atomic: true, exactlyOnce: true, requestId: `bank-${transfer.id}`, timeoutMs: OP_TIMEOUT_MS };
    const { id, amount, ledger } = transfer;
    const run = (): Promise<unknown> =>
      transfer.dag
        ? cb.callDag('bank.transferDag', { 'bank.debit': [id, from, amount, ledger], 'bank.credit': [to] }, opts)
        : cb.call('bank.transfer', [id, from, to, amount, ledger], opts);
    // Retried under the same request id until acknowledged: the next transfer must not race this one.
    for (let tries = 0; tries < TRIES && (tries === 0 || !signal.aborted); tries++) if ((await ctx.op(process, 'transfer', transfer, run)) !== undefined) break;
  }
}

/** Tries of the final read: right after the heal a read can time out while the cluster catches up. */
const FINAL_TRIES = 6;

/**
 * The final state, read as one atomic audit: a transfer whose commit a fault
 * left half done (its plain keys written in part) is rolled forward by the
 * collector only after its commit window, so plain reads of the keys one by
 * one can see part of it (one such read found a pair's balances a transfer
 * ahead of its ledger); an atomic read sees all of it or none.
 */
async function final(ctx: WorkloadContext): Promise<BankFinal> {
  const pairs = layout(ctx.processes);
  const initial: Record<string, number> = {};
  for (const accounts of Object.values(pairs)) for (const account of accounts) initial[account] = INITIAL;
  for (let tries = 1; ; tries++) {
    try {
      const read = await ctx.client.call<{ balances: Record<string, number | null>; ledgers: Record<string, string[]> }>('bank.audit', [pairs, 0], { atomic: true, timeoutMs: OP_TIMEOUT_MS * 4 });
      return { initial, pairs, balances: read.balances, ledgers: read.ledgers };
    } catch (err) {
      if (tries >= FINAL_TRIES) throw err;
    }
  }
}

export const bank: Workload = {
  name: 'bank',
  description: 'atomic exactly-once transfers inside per-process account pairs, each appending its id to a ledger, and atomic audits; every audit sees the constant total and balances matching its ledgers, every ok transfer in the final ledger exactly once',
  control: 'audits without atomic (they may read half a transfer)',
  setup,
  client,
  final,
  check: checkBank,
};
