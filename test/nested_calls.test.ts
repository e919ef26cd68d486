// Functions that call functions (`cb.call`) and durable sleeps (`cb.sleep`),
// end to end over real NATS, a router, executors with worker threads and a
// KVS shard. Under exactlyOnce both are logged steps: attempts of one call
// running at once invoke the callee once, and a re-run waits only what is
// left of a sleep.

import t from 'tap';
import type { Cb } from '../lib/function_api.js';
import { DeadlineExceeded, FunctionNotFound, InvalidArgument } from '../lib/errors.js';
import { defineFunction } from '../lib/typed_functions.js';
import { Type } from 'typebox';
import { setTimeout as delay } from 'node:timers/promises';
import { startCluster } from './fixtures/cluster.js';

t.test('a function calls another and gets its result or its typed error', async (t) => {
  const { client } = await startCluster(t, { executors: 2 });
  await client.register('double', async (_cb: Cb, x: number) => x * 2);
  await client.register(defineFunction('checked', { args: [Type.Integer()] }, (_cb: Cb, x) => x));
  await client.register('twice', async (cb: Cb, x: number) => cb.call<number>('double', [await cb.call<number>('double', [x])]));
  t.equal(await client.call('twice', [5]), 20);
  await client.register('calls', async (cb: Cb, fn: string, args: unknown[]) => {
    try {
      return await cb.call(fn, args);
    } catch (err) {
      return { caught: (err as { code?: string }).code };
    }
  });
  t.same(await client.call('calls', ['nope', []]), { caught: 'FUNCTION_NOT_FOUND' }, 'the callee\'s error reaches the caller with its code');
  t.same(await client.call('calls', ['checked', [1.5]]), { caught: 'INVALID_ARGUMENT' }, 'a callee\'s schema is checked as for any call');
  await client.register('uncaught', async (cb: Cb) => cb.call('nope'));
  await t.rejects(client.call('uncaught'), FunctionNotFound, 'uncaught, it is the caller\'s error');
  await client.register('bad_args', async (cb: Cb) => cb.call('double', 'x' as unknown as unknown[]));
  await t.rejects(client.call('bad_args'), InvalidArgument);
  await client.register('slowly', async (cb: Cb, ms: number) => cb.sleep(ms));
  await client.register('impatient', async (cb: Cb) => cb.call('slowly', [5_000], { timeoutMs: 300 }));
  await t.rejects(client.call('impatient'), DeadlineExceeded, 'timeoutMs bounds the callee within the caller\'s deadline');
});

t.test('cb.call is refused in atomic calls', async (t) => {
  const { client } = await startCluster(t);
  await client.register('one', async () => 1);
  await client.register('caller', async (cb: Cb) => cb.call('one'));
  await t.rejects(client.call('caller', [], { atomic: true }), { code: 'INVALID_ARGUMENT', message: /atomic/ });
  t.equal(await client.call('caller'), 1);
});

t.test('under exactlyOnce, two attempts at once call the callee once', async (t) => {
  const { client } = await startCluster(t, { executors: 2, threads: 2 });
  // Each run of tick adds an entry of its own: a second run shows as a second entry.
  await client.register('tick', async (cb: Cb, key: string) => {
    await cb.put(key, new cb.lattices.SetLattice([Math.random().toString(36).slice(2)]));
    return true;
  });
  await client.register('ticker', async (cb: Cb, key: string) => {
    await cb.call('tick', [key]);
    return 'done';
  });
  const attempts = async (key: string, exactlyOnce: boolean): Promise<number> => {
    const opts = { exactlyOnce, requestId: `rid-${key}` };
    t.same(await Promise.all([client.call('ticker', [key], opts), client.call('ticker', [key], opts)]), ['done', 'done']);
    // Called again after both ended: the first result, no new run.
    t.equal(await client.call('ticker', [key], opts), 'done');
    return ((await client.get<ReadonlySet<string>>(key, { all: true })) ?? new Set()).size;
  };
  t.equal(await attempts('once', true), 1, 'one run of the callee across three attempts');
  // The control: without exactlyOnce each attempt calls the callee.
  t.equal(await attempts('plain', false), 3, 'without exactlyOnce every attempt calls it');
});

t.test('cb.sleep waits; under exactlyOnce a re-run waits only what is left', async (t) => {
  const { client } = await startCluster(t);
  await client.register('nap', async (cb: Cb, ms: number) => {
    const start = Date.now();
    await cb.sleep(ms);
    return { start, end: Date.now() };
  });
  const plain = await client.call<{ start: number; end: number }>('nap', [200]);
  t.ok(plain.end - plain.start >= 190, `a plain sleep waits (${plain.end - plain.start} ms)`);
  await t.rejects(client.call('nap', [5_000], { timeoutMs: 1_000 }), DeadlineExceeded, 'a sleep past the deadline fails at once');
  await t.rejects(client.call('nap', [-1]), InvalidArgument);

  // The first attempt logs its start (a logged write, which a re-run replays) and its wake time, then fails
  // at once: its deadline is before the wake time.
  await client.register('logged_nap', async (cb: Cb, ms: number) => {
    await cb.put('nap/t0', Date.now());
    await cb.sleep(ms);
    return Date.now();
  });
  const opts = { exactlyOnce: true, requestId: 'nap-1' };
  await t.rejects(client.call('logged_nap', [3_000], { ...opts, timeoutMs: 2_000 }), DeadlineExceeded);
  const t0 = await client.get<number>('nap/t0');
  t.type(t0, 'number', 'the first attempt got as far as its sleep');
  // Time passes before the retry (the scenario, not a wait for something): a fresh sleep would end 4.5 s after t0.
  await delay(1_500);
  const end = await client.call<number>('logged_nap', [3_000], { ...opts, timeoutMs: 20_000 });
  t.ok(end >= t0! + 3_000 - 5, 'the re-run wakes when the first attempt would have, not before');
  t.ok(end < t0! + 4_000, `the re-run waited only what was left (woke ${end - t0!} ms after the first attempt started; a fresh sleep: >= 4500)`);
});
