// The executor's shared-memory cache as functions use it: hits need no
// message, merges made elsewhere reach it, puts write through, references
// are read through it, and it stays within its byte budget.

import t from 'tap';
import type { Cb } from '../lib/function_api.js';
import { ref } from '../lib/reference.js';
import { MaxIntLattice, SetLattice } from '../lib/lattice/index.js';
import { startCluster } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';

t.test('a function re-reading a key hits the shared cache: one fetch for ten reads', async (t) => {
  const { client, executors } = await startCluster(t, { executors: 1, threads: 1 });
  await client.put('config', { depth: 3 });
  await client.register('readTen', async (cb: Cb) => {
    let last: unknown;
    for (let i = 0; i < 10; i++) last = await cb.get('config');
    return last;
  });
  const before = executors[0]!.cacheStats.misses;
  t.same(await client.call('readTen'), { depth: 3 });
  t.equal(executors[0]!.cacheStats.misses - before, 1, 'one miss went to the main thread; nine reads were hits in the worker');
  t.same(await client.call('readTen'), { depth: 3 });
  t.equal(executors[0]!.cacheStats.misses - before, 1, 'the next call hits from its first read');
});

t.test('a merge made by another client reaches the cache', async (t) => {
  const { client } = await startCluster(t, { executors: 1 });
  await client.register('read', async (cb: Cb, key: string) => cb.get(key));
  await client.put('version', 'v1');
  t.equal(await client.call('read', ['version']), 'v1');
  await client.put('version', 'v2');
  await eventually('the cached copy was refreshed', async () => (await client.call('read', ['version'])) === 'v2');
  t.pass('refreshed');
});

t.test('puts write through: a function reads its own writes, other executors see them', async (t) => {
  const { client } = await startCluster(t, { executors: 2 });
  await client.register('bump', async (cb: Cb) => {
    await cb.put('hits', new cb.lattices.MaxIntLattice(((await cb.get<number>('hits')) ?? 0) + 1));
    return cb.get<number>('hits');
  });
  t.equal(await client.call('bump'), 1);
  t.equal(await client.get('hits'), 1);
  await client.put('hits', new MaxIntLattice(41));
  await eventually('both executors see 41', async () => (await Promise.all([1, 2, 3, 4].map(() => client.call('bump')))).every((v) => (v as number) >= 42));
  t.pass('merged');
});

const modes = { plain: {}, rr: { consistency: 'rr' }, 'exactly-once': { exactlyOnce: true }, atomic: { atomic: true } } as const;
for (const [mode, opts] of Object.entries(modes)) {
  t.test(`a lattice put into a key not cached reads back merged, in this call and the next (${mode})`, async (t) => {
    // The README's like: the executor has never read likes/post-1, which
    // the client filled. The written delta alone is not the key's value.
    const { client } = await startCluster(t, { executors: 1, threads: 2 });
    await client.register('like', async (cb: Cb, post: string, user: string) => {
      await cb.put(`likes/${post}`, new cb.lattices.SetLattice([user]));
      return (await cb.get<ReadonlySet<string>>(`likes/${post}`))?.size;
    });
    await client.register('count', async (cb: Cb, post: string) => (await cb.get<ReadonlySet<string>>(`likes/${post}`))?.size);
    await client.put('likes/post-1', new SetLattice(['ada', 'grace']));
    t.equal(await client.call('like', ['post-1', 'edsger'], opts), 3, 'the function sees its write merged with what was stored');
    t.equal(await client.call('count', ['post-1'], opts), 3, 'and so does the next call on that executor');
    t.equal(await client.call('like', ['post-1', 'alan'], opts), 4, 'a put into the cached copy merges too');
    t.equal(await client.call('count', ['post-1']), 4, 'and a plain read from the cache right after sees it');
  });
}

t.test('ref(key) arguments arrive as the key\'s value', async (t) => {
  const { client } = await startCluster(t);
  await client.put('matrix', [[1, 2], [3, 4]]);
  await client.register('sum', async (_cb: Cb, m: number[][], scale: number) => m.flat().reduce((a, b) => a + b, 0) * scale);
  t.equal(await client.call('sum', [ref('matrix'), 10]), 100);
  t.throws(() => ref('__cb/fn/sum'), { code: 'INVALID_ARGUMENT' }, 'platform keys cannot be referenced');
});

t.test('the cache stays within its budget and evicts', async (t) => {
  const budget = 64 * 1024;
  const { client, executors } = await startCluster(t, { executors: 1, executor: { cacheBytes: budget } });
  const blob = 'x'.repeat(4000);
  await Promise.all(Array.from({ length: 100 }, (_, i) => client.put(`blob${i}`, blob)));
  await client.register('readAll', async (cb: Cb) => {
    let n = 0;
    for (let i = 0; i < 100; i++) if ((await cb.get<string>(`blob${i}`))?.length === 4000) n++;
    return n;
  });
  t.equal(await client.call('readAll'), 100, 'every value read correctly');
  const stats = executors[0]!.cacheStats;
  t.ok(stats.bytes <= budget, `cache holds ${stats.bytes} B of ${budget}`);
  t.ok(stats.evictions > 0, `${stats.evictions} evictions`);
});

t.test('a future of one call is an argument of the next, which waits for it', async (t) => {
  const { client } = await startCluster(t, { executors: 2 });
  await client.register('slowSquare', async (_cb: Cb, x: number) => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    return x * x;
  });
  await client.register('plus', async (_cb: Cb, a: number, b: number) => a + b);
  const squared = client.callFuture<number>('slowSquare', [7]);
  // Sent at once: the executor holds it until the future's result exists.
  t.equal(await client.call('plus', [squared, 1]), 50);
  t.equal(await squared.result(), 49);
  const failed = client.callFuture('missing');
  await t.rejects(failed.result(), { code: 'FUNCTION_NOT_FOUND' });
});
