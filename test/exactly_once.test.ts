// Exactly-once effects (Beldi-style logs): a call retried after its executor
// died, or called again with the same request id, applies its writes once
// and answers with the first result. Without the log the same retries
// double the effect, so the checker can fail.

import t, { type Test } from 'tap';
import type { Cb } from '../lib/function_api.js';
import { startCluster } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';
import { startVictimCluster } from './fixtures/victim_cluster.js';

/** Reads the counter, writes it plus one, returns what it wrote; lingers on the victim executor. */
const increment = async (cb: Cb, key: string): Promise<number> => {
  const next = ((await cb.get<number>(key)) ?? 0) + 1;
  await cb.put(key, next);
  if (cb.id.startsWith('exec-victim.')) await new Promise((resolve) => setTimeout(resolve, 60_000));
  return next;
};

t.test('calling again with the same request id: once under exactlyOnce, twice without', async (t) => {
  const { client } = await startCluster(t);
  await client.register('increment', increment);
  t.equal(await client.call('increment', ['once'], { exactlyOnce: true, requestId: 'req-1' }), 1);
  t.equal(await client.call('increment', ['once'], { exactlyOnce: true, requestId: 'req-1' }), 1, 'the first result, not a second run');
  t.equal(await client.get('once'), 1);
  t.equal(await client.call('increment', ['once'], { exactlyOnce: true, requestId: 'req-2' }), 2, 'another id is another call');
  await client.call('increment', ['twice'], { requestId: 'req-3' });
  await client.call('increment', ['twice'], { requestId: 'req-3' });
  t.equal(await client.get('twice'), 2, 'without the log the effect happens twice');
});

async function killMidCall(t: Test, exactlyOnce: boolean, dag = false): Promise<{ counter: unknown; answer: number }> {
  const { client, victim, startSurvivor } = await startVictimCluster(t);
  await client.register('increment', increment);
  await client.register('double', async (_cb: Cb, _key: string, n: number) => 2 * n);
  await client.registerDag('incThenDouble', ['increment', 'double'], [['increment', 'double']]);
  // Only the victim runs now, so the call lands there; a survivor joins after.
  const call = dag
    ? client.callDag<number>('incThenDouble', { increment: ['counter'], double: ['counter'] }, { exactlyOnce }).then((n) => n / 2)
    : client.call<number>('increment', ['counter'], { exactlyOnce });
  await eventually('the first attempt wrote', async () => (await client.get('counter')) === 1);
  await startSurvivor();
  victim.child.kill('SIGKILL');
  const answer = await call;
  return { counter: await client.get('counter'), answer };
}

t.test('an executor killed mid-call: the retry applies the increment once under exactlyOnce', async (t) => {
  const { counter, answer } = await killMidCall(t, true);
  t.equal(counter, 1, 'one increment');
  t.equal(answer, 1, 'the retry answered what the first attempt computed');
});

t.test('killed mid-call with the counter in the dead executor\'s cache and not the next one\'s: still once', async (t) => {
  const { client, victim, startSurvivor } = await startVictimCluster(t);
  await client.register('increment', increment);
  await client.register('peek', async (cb: Cb, key: string) => cb.get<number>(key));
  await client.put('cached', 0);
  // The victim reads the counter first, so the increment finds it in the victim's cache.
  t.equal(await client.call('peek', ['cached']), 0);
  const call = client.call<number>('increment', ['cached'], { exactlyOnce: true });
  await eventually('the first attempt wrote', async () => (await client.get('cached')) === 1);
  await startSurvivor();
  victim.child.kill('SIGKILL');
  t.equal(await call, 1, 'the retry answered what the first attempt computed');
  t.equal(await client.get('cached'), 1, 'one increment: the retry, reading through its own cache, matched the first attempt\'s logged steps');
});

t.test('the same crash without exactlyOnce increments twice (the checker can fail)', async (t) => {
  const { counter } = await killMidCall(t, false);
  t.equal(counter, 2);
});

t.test('a DAG whose executor is killed mid-stage runs again elsewhere; under exactlyOnce its effects happen once', async (t) => {
  const once = await killMidCall(t, true, true);
  t.equal(once.counter, 1, 'one increment');
  t.equal(once.answer, 1, 'the re-run DAG answered from the logged stage');
});

t.test('the same DAG crash without exactlyOnce increments twice', async (t) => {
  const { counter } = await killMidCall(t, false, true);
  t.equal(counter, 2);
});

/** Moves `amount` from account `from` (first function) to `to` (the sink, which lingers on the victim). */
async function killMidTransfer(t: Test, opts: { atomic: boolean; exactlyOnce: boolean }): Promise<{ a: unknown; b: unknown }> {
  const { client, victim, startSurvivor } = await startVictimCluster(t);
  await client.register('debit', async (cb: Cb, from: string, amount: number) => {
    await cb.put(from, ((await cb.get<number>(from)) ?? 0) - amount);
    return amount;
  });
  await client.register('credit', async (cb: Cb, to: string, amount: number) => {
    await cb.put(to, ((await cb.get<number>(to)) ?? 0) + amount);
    if (cb.id.startsWith('exec-victim.')) await new Promise((resolve) => setTimeout(resolve, 60_000));
    return amount;
  });
  await client.registerDag('transfer', ['debit', 'credit'], [['debit', 'credit']]);
  await client.put('a', 100);
  await client.put('b', 0);
  const call = client.callDag('transfer', { debit: ['a', 10], credit: ['b'] }, opts);
  if (opts.atomic) {
    // Its writes stay invisible until the commit: wait until the victim's heartbeat says it runs the DAG.
    const victimRunning = async () => {
      const { members } = (await client.status()) as { members: { id: string; running?: number }[] };
      return members.some((m) => m.id === 'exec-victim' && (m.running ?? 0) > 0);
    };
    await eventually('the victim runs the transfer', victimRunning);
  } else await eventually('the sink on the victim credited', async () => (await client.get('b')) === 10);
  await startSurvivor();
  victim.child.kill('SIGKILL');
  t.equal(await call, 10, 'the DAG completes elsewhere');
  return { a: await client.get('a'), b: await client.get('b') };
}

t.test('a transfer DAG killed mid-stage: atomic and exactly-once, the money moves once', async (t) => {
  t.same(await killMidTransfer(t, { atomic: true, exactlyOnce: true }), { a: 90, b: 10 });
});

t.test('the same crash without atomic or exactlyOnce moves the money twice (the checker can fail)', async (t) => {
  t.same(await killMidTransfer(t, { atomic: false, exactlyOnce: false }), { a: 80, b: 20 });
});

t.test('an executor stopping gracefully finishes its calls there: none runs again elsewhere', async (t) => {
  const { client, victim, startSurvivor } = await startVictimCluster(t);
  // Increments once, then holds the call until the test releases it.
  await client.register('bumpAndHold', async (cb: Cb, key: string) => {
    const next = ((await cb.get<number>(key)) ?? 0) + 1;
    await cb.put(key, next);
    while ((await cb.get('release')) !== true) await new Promise((resolve) => setTimeout(resolve, 10));
    return next;
  });
  await client.register('where', async (cb: Cb) => cb.id.split('.')[0]);
  const call = client.call<number>('bumpAndHold', ['held']);
  await eventually('the call runs on the victim', async () => (await client.get('held')) === 1);
  await startSurvivor();
  const draining = async () => {
    const { members } = (await client.status()) as { members: { id: string; draining?: boolean }[] };
    return members.some((m) => m.id === 'exec-victim' && m.draining === true);
  };
  victim.child.kill('SIGTERM');
  await eventually('the router hears the victim drain', draining);
  t.equal(await client.call('where'), 'exec-survivor', 'new work goes to the executor that is not stopping');
  await client.put('release', true);
  t.equal(await call, 1, 'the held call answers from where it ran');
  t.equal(await client.get('held'), 1, 'and ran once');
});

t.test('two attempts of one exactly-once DAG call at once both get its result; it runs once', async (t) => {
  const { client } = await startCluster(t, { executors: 2 });
  await client.register('increment', increment);
  await client.register('double', async (_cb: Cb, n: number) => 2 * n);
  await client.registerDag('incThenDouble2', ['increment', 'double'], [['increment', 'double']]);
  const opts = { exactlyOnce: true, requestId: 'dag-twice-at-once', timeoutMs: 10_000 };
  const args = { increment: ['dag-at-once'], double: [] };
  // A client retry sent while the first attempt still runs: the stages of the
  // two met on the executors under one id, and only one caller was answered.
  const answers = await Promise.all([client.callDag<number>('incThenDouble2', args, opts), client.callDag<number>('incThenDouble2', args, opts)]);
  t.same(answers, [2, 2], 'both answered, with the one result');
  t.equal(await client.get('dag-at-once'), 1, 'the increment applied once');
});
