#!/usr/bin/env node
// `node dist/examples/bank/main.js`: opens a bank, runs transfers between
// random accounts while auditors read every balance atomically, and checks
// that every audit saw the opening total and that each final balance is
// what the acknowledged transfers imply. Exits 1 when a check fails.
// Kill an executor while it runs (against `cloudburst up --executors 2`)
// to see retries move money once.

import { randomUUID } from 'node:crypto';
import { exampleCli, say, wholeNumbers, withCluster } from '../example_cli.js';
import { Bank } from './bank.js';
import { BankLoad } from './load.js';

const args = await exampleCli('bank', 'A bank: atomic, exactly-once transfers under concurrent audits.')
  .option('accounts', { type: 'number', default: 20, describe: 'accounts' })
  .option('opening-balance', { type: 'number', default: 1000, describe: 'opening balance of each account' })
  .option('transfers', { type: 'number', default: 500, describe: 'transfers to run' })
  .option('in-flight', { type: 'number', default: 8, describe: 'transfers running at once' })
  .option('auditors', { type: 'number', default: 1, describe: 'audits running at once while the transfers run' })
  .option('max-amount', { type: 'number', default: 300, describe: 'transfers move 1 to this much' })
  .option('seed', { type: 'number', default: 1, describe: 'seeds the choice of accounts and amounts' })
  .check(wholeNumbers({ accounts: 2, 'opening-balance': 0, transfers: 0, 'in-flight': 1, auditors: 0, 'max-amount': 1 }))
  .parseAsync();

await withCluster(args, async (client) => {
  await Bank.register(client);
  const bank = new Bank(client, `bank-${randomUUID().slice(0, 8)}`);
  say(`${bank.name}: ${args.accounts} accounts of ${args['opening-balance']}; ${args.transfers} transfers, ${args['in-flight']} at once, with ${args.auditors} auditor(s)`);
  const report = await new BankLoad(bank, {
    accounts: args.accounts,
    openingBalance: args['opening-balance'],
    transfers: args.transfers,
    inFlight: args['in-flight'],
    auditors: args.auditors,
    maxAmount: args['max-amount'],
    seed: args.seed,
    say,
  }).run();
  report.stats.print(say);
  const offTotals = report.auditTotals.filter((total) => total !== report.openingTotal);
  const wrong = Object.keys(report.expected).filter((a) => report.final.balances[a] !== report.expected[a]);
  say(`refused for insufficient funds: ${report.refused}; calls retried: ${bank.retries}`);
  say(`audits that saw a total other than ${report.openingTotal}: ${offTotals.length} of ${report.auditTotals.length}`);
  say(`final total: ${report.final.total}; accounts whose balance differs from what the transfers imply: ${wrong.length}`);
  if (offTotals.length > 0 || wrong.length > 0 || report.final.total !== report.openingTotal) process.exitCode = 1;
});
