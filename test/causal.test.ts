// Causal sessions: a reader must never see an effect without its cause. The
// reader's executor gets merge pushes late (its transport holds back update
// messages), so its cached `cause` lags; each effect is a fresh key, read
// from the KVS. Under lww the checker finds effects without their cause;
// under causal the executor fetches the cause first and finds none.

import t, { type Test } from 'tap';
import type { Cloudburst } from '../lib/client/cloudburst.js';
import type { Cb } from '../lib/function_api.js';
import { MultiKeyCausal, VectorClock } from '../lib/lattice/index.js';
import { startCluster } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';
import { clusterWithLatePushes } from './fixtures/late_pushes.js';

async function setUp(t: Test): Promise<Cloudburst> {
  const client = await clusterWithLatePushes(t, 400);
  await client.register('readPair', async (cb: Cb, i: number) => {
    const one = (v: unknown): number => (Array.isArray(v) ? Math.max(...(v as number[])) : ((v as number | undefined) ?? -1));
    const effect = one(await cb.get(`effect/${i}`));
    const cause = one(await cb.get('cause'));
    return [effect, cause];
  });
  return client;
}

/** Writes cause = i then effect/i = i (depending on it), reads them back through the slow executor; counts effects seen without their cause. */
async function violations(client: Cloudburst, mode: 'lww' | 'causal'): Promise<number> {
  const write = async (i: number): Promise<void> => {
    if (mode === 'lww') {
      await client.put('cause', i);
      await client.put(`effect/${i}`, i);
      return;
    }
    const causeClock = new VectorClock([['writer', i]]);
    await client.put('cause', new MultiKeyCausal(causeClock, [i]));
    await client.put(`effect/${i}`, new MultiKeyCausal(new VectorClock([['writer', i]]), [i], [['cause', causeClock]]));
  };
  await write(0);
  await client.call('readPair', [0], { consistency: mode }); // the executor now caches `cause`
  let bad = 0;
  for (let i = 1; i <= 10; i++) {
    await write(i);
    const [effect, cause] = await client.call<[number, number]>('readPair', [i], { consistency: mode });
    if (effect === i && cause < i) bad++;
  }
  return bad;
}

t.test('under lww the checker finds an effect read without its cause', async (t) => {
  const client = await setUp(t);
  t.ok((await violations(client, 'lww')) > 0, 'causal violations found');
});

t.test('under causal no read sees an effect without its cause', async (t) => {
  const client = await setUp(t);
  t.equal(await violations(client, 'causal'), 0);
});

t.test('causal writes in a DAG: versions carry what the session saw, downstream reads them', async (t) => {
  const client = await setUp(t);
  await client.register('writeK', async (cb: Cb, v: number) => {
    await cb.put('k', v);
    return cb.get('k');
  });
  await client.register('readK', async (cb: Cb, upstream: unknown) => ({ upstream, here: await cb.get('k') }));
  await client.registerDag('wr', ['writeK', 'readK'], [['writeK', 'readK']]);
  t.same(await client.callDag('wr', { writeK: [7] }, { consistency: 'causal' }), { upstream: [7], here: [7] });
  const stored = await client.getLattice('k');
  t.ok(stored instanceof MultiKeyCausal, 'stored as a causal version');
  await t.rejects(client.call('writeK', [1], { consistency: 'lww' }), { code: 'LATTICE_TYPE_MISMATCH' }, 'a key holding causal versions refuses a plain write');
});

t.test('a causal write keeps a version it never read beside it, also from a call running at once on the same executor', async (t) => {
  const { client } = await startCluster(t, { threads: 2 });
  const list = (v: unknown): number[] => [...new Set(((v as number[][] | undefined) ?? []).flat())].sort();
  await client.register('seed', async (cb: Cb) => cb.put('list', [0]));
  await client.register('append', async (cb: Cb, n: number) => {
    const seen = [...new Set(((await cb.get<number[][]>('list')) ?? []).flat())];
    await cb.put('list', [...seen, n]);
  });
  // Reads the list, waits until the test says go (another call writes the list meanwhile), then appends.
  await client.register('appendAfterGo', async (cb: Cb, n: number) => {
    const seen = [...new Set(((await cb.get<number[][]>('list')) ?? []).flat())];
    await cb.put(`read/${n}`, true);
    while ((await cb.get('go')) !== true) await new Promise((resolve) => setTimeout(resolve, 5));
    await cb.put('list', [...seen, n]);
  });
  await client.call('seed', [], { consistency: 'causal' });
  const slow = client.call('appendAfterGo', [1], { consistency: 'causal' });
  await eventually('the slow call has read the list', async () => (await client.get('read/1')) !== undefined);
  await client.call('append', [2], { consistency: 'causal' });
  await client.put('go', true);
  await slow;
  const siblings = (await client.get<number[][]>('list', { all: true })) ?? [];
  t.same(siblings.map(list).sort(), [[0, 1], [0, 2]], 'both appends survive as concurrent versions');
  await client.call('append', [3], { consistency: 'causal' });
  t.same(list(await client.get('list', { all: true })), [0, 1, 2, 3], 'a write after reading both supersedes them with their union');
});

t.test('under causal a put of a lattice is refused with InvalidArgument; plain values and LWWPair are taken', async (t) => {
  const { client } = await startCluster(t);
  await client.register('addTag', async (cb: Cb, key: string) => cb.put(key, new cb.lattices.SetLattice(['a'])));
  await t.rejects(client.call('addTag', ['tags'], { consistency: 'causal' }), { code: 'INVALID_ARGUMENT', message: /under causal consistency, put plain values/ });
  t.equal(await client.get('tags'), undefined, 'nothing was written');
  await client.call('addTag', ['tags-lww']);
  t.same(await client.get('tags-lww'), new Set(['a']), 'the same call under lww merges the set');
  await client.register('putPair', async (cb: Cb, key: string) => {
    await cb.put(key, new cb.lattices.LWWPair(1, 'w', 'plain'));
    return cb.get(key);
  });
  t.same(await client.call('putPair', ['pair'], { consistency: 'causal' }), ['plain'], "an LWWPair's value becomes the causal version");
});
