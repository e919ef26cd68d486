// DAGs of functions: validated at registration, results passed executor to
// executor, the sink answering the caller directly.

import t from 'tap';
import type { Cb } from '../lib/function_api.js';
import { DagNotFound, ExecutionError, FunctionNotFound, InvalidArgument } from '../lib/errors.js';
import { startCluster } from './fixtures/cluster.js';

t.test('square(increment(x)) across executors, and a result stored under outputKey', async (t) => {
  const { client } = await startCluster(t, { executors: 2 });
  await client.register('increment', async (_cb: Cb, x: number) => x + 1);
  await client.register('square', async (_cb: Cb, x: number) => x * x);
  await client.registerDag('sq_inc', ['increment', 'square'], [['increment', 'square']]);
  const results = await Promise.all([1, 2, 3, 4, 5, 6].map((x) => client.callDag('sq_inc', { increment: [x] })));
  t.same(results, [4, 9, 16, 25, 36, 49]);
  t.equal(await client.callDag('sq_inc', { increment: [9] }, { outputKey: 'sq_inc/last' }), 100);
  t.equal(await client.get('sq_inc/last'), 100, 'the sink stored its result before answering');
});

t.test('fan-out and fan-in: upstream results follow the call arguments, in connection order', async (t) => {
  const { client } = await startCluster(t, { executors: 2 });
  await client.register('source', async (_cb: Cb, x: number) => x);
  await client.register('double', async (_cb: Cb, x: number) => 2 * x);
  await client.register('triple', async (_cb: Cb, x: number) => 3 * x);
  await client.register('join', async (_cb: Cb, label: string, a: number, b: number) => `${label}:${a},${b}`);
  await client.registerDag('diamond', ['source', 'double', 'triple', 'join'], [
    ['source', 'double'],
    ['source', 'triple'],
    ['double', 'join'],
    ['triple', 'join'],
  ]);
  t.equal(await client.callDag('diamond', { source: [5], join: ['sum'] }), 'sum:10,15');
});

t.test('a DAG is checked when it is registered', async (t) => {
  const { client } = await startCluster(t);
  for (const fn of ['a', 'b', 'c']) await client.register(fn, async () => fn);
  await t.rejects(client.registerDag('d', ['a', 'nope'], [['a', 'nope']]), FunctionNotFound, 'unknown function');
  await t.rejects(client.registerDag('d', ['a', 'b'], [['a', 'b'], ['b', 'a']]), InvalidArgument, 'cycle (and so no sink)');
  await t.rejects(client.registerDag('d', ['a', 'b', 'c'], [['a', 'b'], ['b', 'c'], ['c', 'b']]), { message: /cycle|sink/ });
  await t.rejects(client.registerDag('d', ['a', 'b', 'c'], [['a', 'b'], ['a', 'c']]), { message: /exactly one sink/ }, 'two sinks');
  await t.rejects(client.registerDag('d', ['a', 'b'], []), { message: /exactly one sink/ }, 'not connected');
  await t.rejects(client.registerDag('d', ['a', 'b'], [['a', 'x']]), { message: /not in the DAG/ });
  await t.rejects(client.registerDag('d', ['a', 'a'], []), { message: /twice/ });
  await t.rejects(client.callDag('d'), DagNotFound, 'nothing was registered');
});

t.test('a stage that throws fails the call with its error; the cluster keeps serving', async (t) => {
  const { client } = await startCluster(t, { executors: 2 });
  await client.register('first', async (_cb: Cb, x: number) => x);
  await client.register('boom', async () => {
    throw new Error('stage failed');
  });
  await client.register('last', async (_cb: Cb, x: number) => x);
  await client.registerDag('breaks', ['first', 'boom', 'last'], [['first', 'boom'], ['boom', 'last']]);
  await t.rejects(client.callDag('breaks', { first: [1] }, { timeoutMs: 5000 }), ExecutionError);
  await t.rejects(client.callDag('breaks', { nope: [1] }), InvalidArgument, 'arguments for a function not in the DAG');
  await client.registerDag('breaks', ['first', 'last'], [['first', 'last']]);
  t.equal(await client.callDag('breaks', { first: [7] }), 7, 'a DAG registered again is the new DAG at once');
});
