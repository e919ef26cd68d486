// The bank under load: transfers between random accounts, many at once,
// while auditors keep reading every balance in one transaction. Every audit
// must see the opening total; at the end each balance must be its opening
// balance plus what the acknowledged transfers moved (a transfer applied
// twice, or lost, shows there).

import pLimit from 'p-limit';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { Say } from '../example_cli.js';
import { OpStats } from '../op_stats.js';
import type { Audit, Bank, TransferResult } from './bank.js';

export interface BankLoadOptions {
  accounts: number;
  openingBalance: number;
  transfers: number;
  /** Transfers running at once (fewer run when they share accounts). */
  inFlight: number;
  /** Audits running at once, one after another, while the transfers run. */
  auditors: number;
  /** Transfers move 1 to this much. */
  maxAmount: number;
  seed: number;
  say?: Say;
}

export interface BankLoadReport {
  openingTotal: number;
  /** The total each audit saw, in the order they finished. */
  auditTotals: number[];
  /** The audit after the last transfer. */
  final: Audit;
  /** Opening balances plus what the acknowledged transfers moved. */
  expected: Record<string, number>;
  /** Transfers refused for insufficient funds. */
  refused: number;
  stats: OpStats;
}

export class BankLoad {
  /** Transfers acknowledged so far. */
  completed = 0;
  /** Transfers started and not yet acknowledged. */
  inFlight = 0;
  /** Audits finished so far. */
  readonly auditTotals: number[] = [];

  constructor(
    private readonly bank: Bank,
    private readonly opts: BankLoadOptions,
  ) {}

  async run(): Promise<BankLoadReport> {
    const { opts, bank } = this;
    const accounts = Array.from({ length: opts.accounts }, (_, i) => `acct${i}`);
    const expected = Object.fromEntries(accounts.map((a) => [a, opts.openingBalance]));
    await bank.open(expected);
    const rng = xoroshiro128plus(opts.seed);
    const stats = new OpStats();
    let refused = 0;
    let transfersDone = false;

    const transferOne = async (i: number): Promise<void> => {
      const from = accounts[uniformInt(rng, 0, accounts.length - 1)]!;
      let to = accounts[uniformInt(rng, 0, accounts.length - 2)]!;
      if (to === from) to = accounts[accounts.length - 1]!;
      const amount = uniformInt(rng, 1, opts.maxAmount);
      this.inFlight++;
      let result: TransferResult;
      try {
        result = await stats.time('transfer', () => bank.transfer(`t${i}`, from, to, amount));
      } finally {
        this.inFlight--;
      }
      this.completed++;
      if (!result.ok) {
        refused++;
        return;
      }
      expected[from]! -= amount;
      expected[to]! += amount;
    };
    const auditor = async (): Promise<void> => {
      while (!transfersDone) this.auditTotals.push((await stats.time('audit', () => bank.audit())).total);
    };

    const stopProgress = opts.say ? stats.reportProgress(opts.say) : () => {};
    const auditors = Array.from({ length: opts.auditors }, auditor);
    try {
      const limit = pLimit(opts.inFlight);
      await Promise.all(Array.from({ length: opts.transfers }, (_, i) => limit(() => transferOne(i))));
    } finally {
      transfersDone = true;
      await Promise.allSettled(auditors);
      stopProgress();
    }
    await Promise.all(auditors);
    return { openingTotal: opts.accounts * opts.openingBalance, auditTotals: this.auditTotals, final: await bank.audit(), expected, refused, stats };
  }
}
