// The bank example (examples/bank): atomic, exactly-once transfers. While
// transfers run and an executor is killed with SIGKILL mid-run, every audit
// (all balances read in one transaction) sees the opening total, and in the
// end each balance is what the acknowledged transfers imply: no transfer
// applied twice, none lost.

import t from 'tap';
import type { Member } from '../lib/membership.js';
import { ExecutionError, InvalidArgument } from '../lib/errors.js';
import { Bank } from '../examples/bank/bank.js';
import { BankLoad } from '../examples/bank/load.js';
import { startCluster } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';
import { runExampleScript } from './fixtures/example_script.js';
import { startVictimCluster } from './fixtures/victim_cluster.js';

t.test('transfers move money once, even when called again with the same id', async (t) => {
  const { client } = await startCluster(t);
  await Bank.register(client);
  const bank = new Bank(client, 'small');
  t.equal(await bank.open({ alice: 100, bob: 0 }), 2);
  t.same(await bank.transfer('t1', 'alice', 'bob', 30), { ok: true, balance: 70 });
  t.same(await bank.transfer('t1', 'alice', 'bob', 30), { ok: true, balance: 70 }, 'the same id again: the first answer');
  t.same(await bank.transfer('t2', 'alice', 'bob', 500), { ok: false, reason: 'insufficient funds', balance: 70 });
  t.same(await bank.audit(), { total: 100, balances: { alice: 70, bob: 30 } }, 't1 moved the money once');

  await t.rejects(bank.transfer('t3', 'alice', 'carol', 1), ExecutionError, 'no such account');
  await t.rejects(bank.open({ alice: 1, bob: 1 }), { message: /already open/ });
  t.throws(() => bank.transfer('t4', 'alice', 'alice', 1), InvalidArgument);
  t.throws(() => bank.transfer('t4', 'alice', 'bob', 1.5), InvalidArgument);
});

t.test('an executor killed mid-run: every audit sees the opening total, and no transfer is applied twice', async (t) => {
  const { client, victim, startSurvivor } = await startVictimCluster(t);
  await startSurvivor();
  // Both executors take transfers before one dies.
  await eventually('the router knows both executors', async () => {
    const { members } = (await client.status()) as { members: Member[] };
    return members.filter((m) => m.kind === 'executor').length === 2;
  });
  await Bank.register(client);
  const bank = new Bank(client, 'faults');
  const load = new BankLoad(bank, { accounts: 20, openingBalance: 1000, transfers: 300, inFlight: 8, auditors: 2, maxAmount: 400, seed: 3 });
  const running = load.run();
  await eventually('a quarter of the transfers are done', () => load.completed >= 75, 30_000);
  const inFlightAtKill = load.inFlight;
  const auditsAtKill = load.auditTotals.length;
  victim.child.kill('SIGKILL');
  const report = await running;

  t.ok(inFlightAtKill > 0, `the executor died with transfers in flight (${inFlightAtKill}; ${bank.retries} calls retried by the client)`);
  t.ok(report.auditTotals.length > auditsAtKill, `audits ran before (${auditsAtKill}) and after the kill (${report.auditTotals.length - auditsAtKill})`);
  t.same(report.auditTotals.filter((total) => total !== report.openingTotal), [], `every audit saw ${report.openingTotal}`);
  t.equal(report.final.total, report.openingTotal, 'the final total is the opening total');
  t.same(report.final.balances, report.expected, 'each balance is what the acknowledged transfers imply: none applied twice');
  t.ok(report.refused < 150, `most transfers went through (${report.refused} refused for insufficient funds)`);
});

t.test('the bank script runs and checks from the command line', async (t) => {
  const { nats } = await startCluster(t, { executors: 2 });
  const { code, stdout } = await runExampleScript('bank', ['--nats', nats.url, '--accounts', '6', '--transfers', '40']);
  t.equal(code, 0, stdout);
  t.match(stdout, /^transfer: 40 ops, [\d.]+ ops\/s, p50 [\d.]+ ms, p99 [\d.]+ ms$/m);
  t.match(stdout, /audits that saw a total other than 6000: 0 of \d+/);
  t.match(stdout, /final total: 6000; accounts whose balance differs from what the transfers imply: 0/);
});
