// Read-atomic transactions: an atomic call's (or DAG call's) writes appear
// together or not at all, and an atomic reader never sees part of another
// call's writes. The fractured-read checker finds such reads without
// `atomic` (so it can fail) and none with it.

import t, { type Test } from 'tap';
import type { Cloudburst } from '../lib/client/cloudburst.js';
import type { Cb } from '../lib/function_api.js';
import { startCluster } from './fixtures/cluster.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function setUp(t: Test): Promise<Cloudburst> {
  const { client } = await startCluster(t, { executors: 2 });
  await client.register('setBoth', async (cb: Cb, v: number) => {
    await cb.put('x', v);
    await new Promise((resolve) => setTimeout(resolve, 15));
    await cb.put('y', v);
    return v;
  });
  await client.register('readBoth', async (cb: Cb) => {
    const x = await cb.get<number>('x');
    await new Promise((resolve) => setTimeout(resolve, 15));
    const y = await cb.get<number>('y');
    return [x, y];
  });
  // The same write set made by a DAG: x in one function, y in the next.
  await client.register('setX', async (cb: Cb, v: number) => (await cb.put('x', v), v));
  await client.register('setY', async (cb: Cb, v: number) => (await cb.put('y', v), v));
  await client.registerDag('setBothDag', ['setX', 'setY'], [['setX', 'setY']]);
  return client;
}

type Writer = (client: Cloudburst, v: number, atomic: boolean) => Promise<unknown>;
const byCall: Writer = (client, v, atomic) => client.call('setBoth', [v], { atomic });
const byDag: Writer = (client, v, atomic) => client.callDag('setBothDag', { setX: [v] }, { atomic });

/** Reads both keys `rounds` times while a writer changes them (stopping at the first fractured read when `untilFound`). */
async function fractured(client: Cloudburst, atomic: boolean, rounds: number, untilFound = false, write = byCall): Promise<number> {
  await write(client, 0, atomic);
  let writing = true;
  const writer = (async () => {
    for (let v = 1; writing; v++) await write(client, v, atomic);
  })();
  let bad = 0;
  for (let i = 0; i < rounds && !(untilFound && bad > 0); i++) {
    const [x, y] = await client.call<[number, number]>('readBoth', [], { atomic });
    if (x !== y) bad++;
    await pause(3);
  }
  writing = false;
  await writer;
  return bad;
}

t.test('without atomic, readers see half-done writes', async (t) => {
  const client = await setUp(t);
  // Timing decides which reads fracture: read until one does (bounded).
  t.ok((await fractured(client, false, 300, true)) > 0, 'the checker finds fractured reads');
});

t.test('with atomic, no reader sees part of a write set', async (t) => {
  const client = await setUp(t);
  t.equal(await fractured(client, true, 25), 0, 'no fractured read');
});

t.test('an atomic DAG call writes its functions\' writes as one set', async (t) => {
  const client = await setUp(t);
  t.ok((await fractured(client, false, 300, true, byDag)) > 0, 'without atomic, the checker finds reads between the two functions');
  t.equal(await fractured(client, true, 25, false, byDag), 0, 'with atomic, no fractured read');
});

t.test('an atomic call that throws leaves nothing behind; one that returns reads its own writes', async (t) => {
  const { client } = await startCluster(t);
  await client.register('failHalfway', async (cb: Cb) => {
    await cb.put('a', 'changed');
    throw new Error('after the first write');
  });
  await client.register('writeThenRead', async (cb: Cb) => {
    await cb.put('b', 'mine');
    return cb.get('b');
  });
  await client.put('a', 'original');
  await t.rejects(client.call('failHalfway', [], { atomic: true }), { code: 'EXECUTION_ERROR' });
  t.equal(await client.get('a'), 'original', 'all or nothing');
  t.equal(await client.call('writeThenRead', [], { atomic: true }), 'mine', 'reads its own write');
  t.equal(await client.get('b'), 'mine', 'visible after the commit');
});

t.test('an atomic DAG call reads upstream writes and commits all or nothing', async (t) => {
  const { client } = await startCluster(t, { executors: 2 });
  await client.register('write', async (cb: Cb, key: string, v: string) => (await cb.put(key, v), key));
  await client.register('readBack', async (cb: Cb, key: string) => cb.get(key));
  await client.register('fail', async () => {
    throw new Error('the sink fails');
  });
  await client.registerDag('writeRead', ['write', 'readBack'], [['write', 'readBack']]);
  await client.registerDag('writeFail', ['write', 'fail'], [['write', 'fail']]);
  await client.put('c', 'original');
  await t.rejects(client.callDag('writeFail', { write: ['c', 'changed'] }, { atomic: true }), { code: 'EXECUTION_ERROR' });
  t.equal(await client.get('c'), 'original', 'an upstream write is dropped when the sink throws');
  t.equal(await client.callDag('writeRead', { write: ['d', 'mine'] }, { atomic: true }), 'mine', 'the sink reads what upstream wrote, before the commit');
  t.equal(await client.get('d'), 'mine', 'visible after the sink commits');
});
