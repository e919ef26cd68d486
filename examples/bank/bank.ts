// The bank's client: registers the functions of functions.ts and calls them
// atomically. Transfers are also exactly-once under an id the caller gives
// (the idempotency key): a transfer retried, by this client or by a router
// whose executor died, moves the money once and answers what the first run
// answered.
//
// One transfer per account at a time: read-atomic transactions keep audits
// from seeing half a transfer, but they do not order two transfers racing on
// one account (both would read the same balance, and the later commit would
// overwrite the earlier: docs/consistency.md, "Limits"). So this client holds
// a lock per account while a transfer runs. Clients in several processes on
// one bank would need the same, e.g. by each owning its own accounts.

import { Mutex } from 'async-mutex';
import { CloudburstError, ExecutionError, FunctionNotFound, InvalidArgument, type Cloudburst } from '../../lib/index.js';
import { moduleSource } from '../module_source.js';
import { accountsKey, audit, balanceKey, balanceOf, lastTransferKey, openBank, transfer, type Audit, type TransferResult } from './functions.js';

export type { Audit, TransferResult } from './functions.js';

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function checkName(what: string, name: string): string {
  if (typeof name !== 'string' || !NAME.test(name)) throw new InvalidArgument(`${what} "${name}" must be 1 to 64 letters, digits, _, . or -`);
  return name;
}

export interface BankOptions {
  /** Tries of one call before its error is given up on (a retry keeps the transfer's id). Default 5. */
  attempts?: number;
}

export class Bank {
  /** Calls that failed and were tried again. */
  retries = 0;
  private readonly locks = new Map<string, Mutex>();
  private readonly attempts: number;

  constructor(
    private readonly client: Cloudburst,
    readonly name: string,
    opts: BankOptions = {},
  ) {
    checkName('bank', name);
    this.attempts = opts.attempts ?? 5;
  }

  /** Registers the bank's functions (again: the newest code wins). */
  static async register(client: Cloudburst): Promise<void> {
    const helpers = [accountsKey, balanceKey, lastTransferKey, balanceOf];
    await client.register('bank.open', moduleSource(openBank, ...helpers));
    await client.register('bank.transfer', moduleSource(transfer, ...helpers));
    await client.register('bank.audit', moduleSource(audit, ...helpers));
  }

  /** Opens the bank with these opening balances (whole numbers). */
  open(balances: Record<string, number>): Promise<number> {
    for (const account of Object.keys(balances)) checkName('account', account);
    return this.call('bank.open', [this.name, balances], {});
  }

  /**
   * Transfer `id` (unique per transfer: calling again with an id repeats
   * nothing and answers as the first call did) moves `amount` from `from` to
   * `to` if `from` holds that much.
   */
  transfer(id: string, from: string, to: string, amount: number): Promise<TransferResult> {
    checkName('transfer id', id);
    checkName('account', from);
    checkName('account', to);
    if (from === to) throw new InvalidArgument('a transfer needs two different accounts');
    if (!Number.isSafeInteger(amount) || amount <= 0) throw new InvalidArgument('the amount must be a whole number > 0');
    const requestId = `bank/${this.name}/${id}`;
    return this.holding([from, to], () => this.call('bank.transfer', [this.name, id, from, to, amount], { exactlyOnce: true, requestId }));
  }

  /** Every balance and their total, as of one moment. */
  audit(): Promise<Audit> {
    return this.call('bank.audit', [this.name], {});
  }

  /** Runs `fn` holding the locks of `accounts`, taken in name order so two transfers never wait on each other. */
  private async holding<T>(accounts: string[], fn: () => Promise<T>): Promise<T> {
    const [first, second] = [...accounts].sort().map((a) => this.lock(a));
    return first!.runExclusive(() => second!.runExclusive(fn));
  }

  private lock(account: string): Mutex {
    let lock = this.locks.get(account);
    if (!lock) this.locks.set(account, (lock = new Mutex()));
    return lock;
  }

  /** An atomic call, tried again (with the same id) when it failed for a reason other than the function or its input. */
  private async call<T>(fn: string, args: unknown[], opts: { exactlyOnce?: boolean; requestId?: string }): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.client.call<T>(fn, args, { atomic: true, ...opts });
      } catch (err) {
        const final = err instanceof ExecutionError || err instanceof InvalidArgument || err instanceof FunctionNotFound || !(err instanceof CloudburstError);
        if (final || attempt >= this.attempts) throw err;
        this.retries++;
      }
    }
  }
}
