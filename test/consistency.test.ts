// Repeatable read across a DAG: while a writer keeps changing a key, the two
// functions of a DAG (on different executors) read it. Under `lww` the
// checker finds them disagreeing (so it can fail); under `rr` never.

import t, { type Test } from 'tap';
import type { Cloudburst } from '../lib/client/cloudburst.js';
import type { Cb } from '../lib/function_api.js';
import type { Member } from '../lib/membership.js';
import { startCluster } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';

interface Reads {
  first: { at: string; saw: number };
  second: { at: string; saw: number };
}

async function setUp(t: Test): Promise<Cloudburst> {
  const { client } = await startCluster(t, { executors: 2, heartbeatMs: 100 });
  await client.register('readFirst', async (cb: Cb) => ({ at: cb.id, saw: (await cb.get<number>('counter')) ?? -1 }));
  await client.register('readSecond', async (cb: Cb, first: { at: string; saw: number }) => {
    // Long enough for the writer to move on.
    await new Promise((resolve) => setTimeout(resolve, 30));
    return { first, second: { at: cb.id, saw: (await cb.get<number>('counter')) ?? -1 } };
  });
  await client.registerDag('twoReads', ['readFirst', 'readSecond'], [['readFirst', 'readSecond']]);
  await client.put('counter', 0);
  // Both executors must be known to the router, or every stage lands on one.
  await eventually('the router knows both executors', async () => {
    const { members } = (await client.status()) as { members: Member[] };
    return members.filter((m) => m.kind === 'executor').length === 2;
  });
  return client;
}

/** Runs the DAG `n` times while a writer bumps the counter; counts repeatable-read violations. */
async function violations(client: Cloudburst, consistency: 'lww' | 'rr', n: number): Promise<{ violations: number; remote: number }> {
  let writing = true;
  const writer = (async () => {
    for (let v = 1; writing; v++) {
      await client.put('counter', v);
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
  })();
  let bad = 0;
  let remote = 0;
  for (let i = 0; i < n; i++) {
    const r = await client.callDag<Reads>('twoReads', {}, { consistency });
    if (r.first.saw !== r.second.saw) bad++;
    if (r.first.at.split('.')[0] !== r.second.at.split('.')[0]) remote++;
  }
  writing = false;
  await writer;
  return { violations: bad, remote };
}

t.test('under lww the checker finds reads that disagree', async (t) => {
  const client = await setUp(t);
  const { violations: bad } = await violations(client, 'lww', 20);
  t.ok(bad > 0, `${bad} of 20 DAG calls read two versions`);
});

t.test('under rr every read of the key in a DAG call returns the first version, across executors', async (t) => {
  const client = await setUp(t);
  const { violations: bad, remote } = await violations(client, 'rr', 20);
  t.equal(bad, 0, 'no repeatable-read violation');
  t.ok(remote > 0, `${remote} of 20 calls ran their two reads on different executors`);
});
