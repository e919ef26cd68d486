// Sent calls (`client.send`): accepted means finished. Once send resolves
// the call runs exactly once, whoever dies, at once or when it is due, and
// its outcome waits for `client.result(requestId)`. Real NATS, router,
// executors with worker threads and a KVS shard; executors sweep sent calls
// on short timings here (CB_TEST_TIMING).

import t from 'tap';
import type { Cb } from '../lib/function_api.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import { executorConfig } from '../lib/config.js';
import { ExecutionError, FunctionNotFound, InvalidArgument } from '../lib/errors.js';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LWWPair, MapLattice, MaxIntLattice, SetLattice } from '../lib/lattice/index.js';
import { logKey } from '../actors/executor/effect_log.js';
import { intentRecord, parseRecord, sendBuckets, sendKey, type SendIntent } from '../lib/sends.js';
import { ExecutorNode } from '../actors/executor/executor_node.js';
import { startCluster } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';

process.env['CB_TEST_TIMING'] = JSON.stringify({ sendDelayMs: 300, sweepEveryMs: 200 });

/** Registers `tick`: each run adds an entry of its own to `key`, so a second run shows. */
async function registerTick(client: Cloudburst): Promise<void> {
  await client.register('tick', async (cb: Cb, key: string) => {
    await cb.put(key, new cb.lattices.SetLattice([Math.random().toString(36).slice(2)]));
    return { ranAt: Date.now() };
  });
}

const runs = async (client: Cloudburst, key: string): Promise<number> => ((await client.get<ReadonlySet<string>>(key, { all: true })) ?? new Set()).size;

/** The outcome the sweep stored for `requestId`, once it has. */
async function swept(client: Cloudburst, requestId: string): Promise<void> {
  await eventually(`the sweep stored the outcome of ${requestId}`, async () => {
    const record = parseRecord(await client['kvs'].get(sendKey(requestId), { all: true }));
    return record?.outcome !== undefined;
  }, 30_000);
}

t.test('a sent call runs once; its result waits under its request id', async (t) => {
  const { client } = await startCluster(t, { executors: 2 });
  await registerTick(client);
  // Looked at by the sweep after its deadline: a short one keeps the test short.
  const id = await client.send('tick', ['now'], { timeoutMs: 2_000 });
  t.match(id, /^send-/);
  t.match(await client.result(id), { ranAt: Number });
  await swept(client, id);
  t.equal(await runs(client, 'now'), 1, 'the first attempt and the sweep\'s make one run');
  t.same(await client.result(id), await client.result(id), 'the stored result, the same every time');
  t.equal(await client.send('tick', ['now'], { requestId: id }), id, 'sent again under its id');
  t.equal(await runs(client, 'now'), 1, 'it is the same call');
});

t.test('a delayed call runs when due, after its caller has gone', async (t) => {
  const { client, nats } = await startCluster(t);
  await registerTick(client);
  const sender = await Cloudburst.connect({ servers: nats.url });
  const sentAt = Date.now();
  const id = await sender.send('tick', ['later'], { delayMs: 1_000, requestId: 'later-1' });
  await sender.close();
  t.equal(await runs(client, 'later'), 0, 'not before it is due');
  await eventually('the delayed call ran', async () => (await runs(client, 'later')) === 1);
  const { ranAt } = await client.result<{ ranAt: number }>(id);
  t.ok(ranAt >= sentAt + 1_000, `it ran when due (${ranAt - sentAt} ms after it was sent)`);
  await swept(client, id);
  t.equal(await runs(client, 'later'), 1);

  const at = new Date(Date.now() + 500);
  const waited = await client.result<{ ranAt: number }>(await client.send('tick', ['at'], { at }), { timeoutMs: 10_000 });
  t.ok(waited.ranAt >= at.getTime(), 'result() waits for a call due later');
});

t.test('a call sent while no executor runs runs once one starts', async (t) => {
  const { client, nats, executors } = await startCluster(t);
  await registerTick(client);
  for (const e of executors.splice(0)) await e.stop();
  const id = await client.send('tick', ['orphan'], { timeoutMs: 500 });
  // Its first attempt finds no executor; only the sweep can run it.
  await t.rejects(client.call('tick', ['control'], { timeoutMs: 500 }), { code: /NO_CAPACITY|DEADLINE_EXCEEDED/ }, 'no executor: the call at once fails');
  const executor = await ExecutorNode.create(executorConfig({ nats: nats.url, heartbeatMs: 1000, threads: 1 }));
  await executor.start();
  t.teardown(() => executor.stop());
  // Generous: the new executor must be heard by the router, then sweep the call's bucket; a loaded machine takes its time.
  await eventually('the sent call ran', async () => (await runs(client, 'orphan')) === 1, 60_000);
  await swept(client, id);
  t.equal(await runs(client, 'orphan'), 1);
  t.equal(await runs(client, 'control'), 0, 'the plain call that failed never ran');
});

t.test('errors: the call\'s own, kept; options refused before anything is recorded', async (t) => {
  const { client } = await startCluster(t);
  await client.register('fail', async () => {
    throw new Error('no luck');
  });
  const failed = await client.send('fail', [], { timeoutMs: 2_000 });
  await t.rejects(client.result(failed), ExecutionError);
  await swept(client, failed);
  await t.rejects(client.result(failed), { name: 'ExecutionError', message: /no luck/ }, 'the stored error');
  const missing = await client.send('nobody');
  await t.rejects(client.result(missing), FunctionNotFound);
  await t.rejects(client.result('never-sent'), InvalidArgument);
  await t.rejects(client.send('tick', [], { delayMs: 1, at: new Date() }), InvalidArgument);
  await t.rejects(client.send('tick', [], { delayMs: -1 }), InvalidArgument);
  await t.rejects(client.send('bad name!'), InvalidArgument);
});

t.test('cb.callAsync starts a call that runs once whatever becomes of its caller', async (t) => {
  const { client } = await startCluster(t, { executors: 2 });
  await registerTick(client);
  await client.register('starter', async (cb: Cb, key: string, fail: boolean) => {
    const id = await cb.callAsync('tick', [key]);
    if (fail) throw new Error('the caller fails right after');
    return id;
  });
  const id = await client.call<string>('starter', ['async', false]);
  t.match(await client.result(id), { ranAt: Number }, 'its result waits under the id it returned');
  await t.rejects(client.call('starter', ['orphaned', true]), { name: 'ExecutionError' });
  await eventually('the call its failed caller started ran', async () => (await runs(client, 'orphaned')) === 1);

  // Under exactlyOnce two attempts of the caller at once start one call, under one id.
  const opts = { exactlyOnce: true, requestId: 'starter-1' };
  const ids = await Promise.all([client.call<string>('starter', ['once', false], opts), client.call<string>('starter', ['once', false], opts)]);
  t.equal(ids[0], ids[1], 'one id');
  await client.result(ids[0]);
  t.equal(await runs(client, 'once'), 1, 'one run, though each attempt sent it and result() joined it');
  // The control: without exactlyOnce each run of the caller starts a call of its own.
  const plain = await Promise.all([client.call<string>('starter', ['twice', false]), client.call<string>('starter', ['twice', false])]);
  t.not(plain[0], plain[1]);
  await Promise.all(plain.map((p) => client.result(p)));
  t.equal(await runs(client, 'twice'), 2);

  await client.register('atomic_starter', async (cb: Cb) => cb.callAsync('tick', ['never']));
  await t.rejects(client.call('atomic_starter', [], { atomic: true }), { code: 'INVALID_ARGUMENT', message: /atomic/ });
});

t.test('an exactly-once call that failed for what it is is not run again by the sweep', async (t) => {
  const { client } = await startCluster(t);
  const dir = await mkdtemp(join(tmpdir(), 'cb-sends-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'runs');
  // An effect outside the KVS, which a run repeats (a logged write would be replayed, unseen).
  await client.register('fails_after_effect', async (_cb: Cb, path: string) => {
    const fs = await import('node:fs');
    fs.appendFileSync(path, 'ran\n');
    throw new Error('fails for what it is');
  });
  // Long enough for a loaded machine to run it; the sweep looks at it after this.
  const timeoutMs = 3_000;
  await t.rejects(client.call('fails_after_effect', [file], { exactlyOnce: true, requestId: 'fails-1', timeoutMs }), { name: 'ExecutionError' });
  const lookedAt = Date.now() + timeoutMs;
  // Every bucket up to the call's deadline swept (the sweep's progress mark past it): the sweep has looked at the call.
  const buckets = sendBuckets();
  await eventually('the sweep passed the call\'s bucket', async () => {
    const mark = await client['kvs'].get(buckets.markKey, { all: true });
    return mark instanceof MaxIntLattice && mark.value >= buckets.startOf(lookedAt);
  }, 30_000);
  t.equal(await readFile(file, 'utf8'), 'ran\n', 'it ran once');
  await t.rejects(client.result('fails-1'), { name: 'ExecutionError', message: /fails for what it is/ }, 'its error is its outcome');
});

t.test('a backlog larger than what one executor runs at once drains as calls end, not one batch per look', async (t) => {
  const { client } = await startCluster(t);
  await registerTick(client);
  // Delayed calls run only by the sweep. Their long timeout files each
  // call, once looked at, to be looked at again a minute later: a sweep
  // that started a batch and left the rest for the next look runs one batch
  // within the wait below; one that starts the rest as slots free runs all.
  const n = 100;
  const sent = await Promise.all(Array.from({ length: n }, (_, i) => client.send('tick', ['backlog'], { delayMs: 200, timeoutMs: 60_000, requestId: `backlog-${i}` })));
  t.equal(sent.length, n);
  await eventually(`all ${n} delayed calls ran`, async () => (await runs(client, 'backlog')) === n, 30_000);
  t.equal(await runs(client, 'backlog'), n, 'each once');
});

t.test('a call whose record reads as absent when its bucket is swept is looked at again, not dropped', async (t) => {
  const { client } = await startCluster(t);
  await registerTick(client);
  const kvs = client['kvs'];
  const id = 'absent-at-first';
  const buckets = sendBuckets();
  // Filed in a bucket, its record not (yet) readable: as when the KVS answers absent in a fault window.
  const filed = Date.now();
  await kvs.put(buckets.keyFor(id, filed), new SetLattice([id]));
  await eventually('the sweep passed the call\'s bucket', async () => {
    const mark = await kvs.get(buckets.markKey, { all: true });
    return mark instanceof MaxIntLattice && mark.value >= buckets.startOf(filed);
  }, 30_000);
  t.equal(await runs(client, 'absent'), 0, 'nothing to run yet');
  const intent: SendIntent = { fn: 'tick', args: ['absent'], due: filed, timeoutMs: 5_000, consistency: 'lww', atomic: false };
  await kvs.put(sendKey(id), intentRecord(intent, 'test'));
  await eventually('the call ran once its record was readable', async () => (await runs(client, 'absent')) === 1, 30_000);
  await swept(client, id);
  t.equal(await runs(client, 'absent'), 1);
});

t.test('a call nothing has run is still run past 5 minutes after its due time; one an attempt started is not', async (t) => {
  const { client } = await startCluster(t);
  await registerTick(client);
  const kvs = client['kvs'];
  const buckets = sendBuckets();
  const due = Date.now() - 6 * 60_000;
  const file = async (id: string, key: string): Promise<void> => {
    const intent: SendIntent = { fn: 'tick', args: [key], due, timeoutMs: 5_000, consistency: 'lww', atomic: false };
    await kvs.put(sendKey(id), intentRecord(intent, 'test'));
    await kvs.put(buckets.keyFor(id, Date.now()), new SetLattice([id]));
  };
  // Faults kept every attempt from reaching an executor for 6 minutes: nothing ran it, so running it now runs it once.
  await file('never-ran', 'late');
  await eventually('the call nothing had run ran', async () => (await runs(client, 'late')) === 1, 30_000);
  await swept(client, 'never-ran');
  // An attempt started (its log exists): past 5 minutes its log may be gone, so it is left unfinished.
  await kvs.put(logKey('started-once'), new MapLattice([['r0', LWWPair.now(null, 'test')]]));
  await file('started-once', 'started');
  const filedAt = Date.now();
  await eventually('the sweep passed its bucket', async () => {
    const mark = await kvs.get(buckets.markKey, { all: true });
    return mark instanceof MaxIntLattice && mark.value >= buckets.startOf(filedAt);
  }, 30_000);
  t.equal(await runs(client, 'started'), 0, 'not run again');
});
