// Two attempts of one exactly-once call running at once (a paused executor
// coming back after the router re-sent its call; a client retrying under the
// same request id while the first attempt runs) must act on the same outcome
// of every step. When the log settled a step by the earliest wall clock, an
// attempt whose own entry was the only one when it read back acted on it,
// and an attempt with a slower clock then won the step for everybody else:
// here the later attempt's executor runs 30 s (one test: 1 s) behind. Under
// `atomic`, each attempt also committed at its own clock's time: two index
// epochs for one transaction.

import t, { type Test } from 'tap';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EffectLog } from '../actors/executor/effect_log.js';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { request } from '../lib/actor/rpc.js';
import { KvsClient } from '../lib/client/kvs_client.js';
import { TX_TIMING } from '../actors/executor/transaction.js';
import { decode, encode } from '../lib/codec/index.js';
import { deadlineIn } from '../lib/deadline.js';
import type { Cb } from '../lib/function_api.js';
import { FN_MESSAGE } from '../lib/function_record.js';
import type { Lattice, MapLattice } from '../lib/lattice/index.js';
import { RESERVED_PREFIX } from '../lib/reserved_keys.js';
import { subjectsFor } from '../lib/subjects.js';
import { CliProcess } from './fixtures/cli.js';
import { startCluster, startShard } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';
import { startNats } from './fixtures/nats.js';

const CLOCK_OFFSET = fileURLToPath(new URL('./fixtures/clock_offset.js', import.meta.url));

/** Runs `body` with this process's Date.now `offsetMs` off (the attempt of a machine with a drifted clock). */
async function withClockOff<T>(offsetMs: number, body: () => Promise<T>): Promise<T> {
  const realNow = Date.now;
  Date.now = () => realNow.call(Date) + offsetMs;
  try {
    return await body();
  } finally {
    Date.now = realNow;
  }
}

async function kvsClients(t: Test, n: number): Promise<KvsClient[]> {
  const nats = await startNats(t);
  const shards = [await startShard(nats.url), await startShard(nats.url)];
  const clients: KvsClient[] = [];
  for (let i = 0; i < n; i++) {
    const transport = await NatsTransport.connect({ servers: nats.url });
    const kvs = new KvsClient(transport, subjectsFor());
    clients.push(kvs);
    t.teardown(async () => {
      kvs.close();
      await transport.close();
    });
  }
  t.teardown(async () => {
    for (const s of shards) await s.stop();
  });
  return clients;
}

t.test('two attempts racing on a step both get the outcome decided first, whatever their clocks', async (t) => {
  const [kvsA, kvsB] = await kvsClients(t, 2);
  const deadline = deadlineIn(10_000);
  // Both attempts opened the log before either logged the step: both run it.
  const [a, b] = await Promise.all([EffectLog.open(kvsA!, 'race-1', deadline), EffectLog.open(kvsB!, 'race-1', deadline)]);
  const readA = await a.once('r0', deadline, () => Promise.resolve(encode(0)));
  t.same(decode(readA!), 0, 'attempt A settled the step on what it read, and acts on it');
  // Attempt B read later (another value) on a machine whose clock is a second behind.
  const readB = await withClockOff(-1_000, () => b.once('r0', deadline, () => Promise.resolve(encode(10))));
  t.same(decode(readB!), 0, 'attempt B acts on the outcome A acted on');
  const late = await EffectLog.open(kvsB!, 'race-1', deadline);
  t.same(decode((await late.once('r0', deadline, () => Promise.resolve(encode(20))))!), 0, 'and so does any later attempt');
});

t.test('many attempts racing on one step at once all get one outcome', async (t) => {
  const clients = await kvsClients(t, 2);
  const deadline = deadlineIn(10_000);
  const logs = await Promise.all(Array.from({ length: 8 }, (_, i) => EffectLog.open(clients[i % 2]!, 'race-2', deadline)));
  const outcomes = await Promise.all(logs.map((log, i) => log.once('r0', deadline, () => Promise.resolve(encode(i)))));
  t.equal(new Set(outcomes.map((o) => decode(o!) as number)).size, 1, `one outcome: ${outcomes.map((o) => decode(o!) as number).join(',')}`);
});

/**
 * Lets the two attempts of `readPlusOne` on in turn: the one on executor
 * `first` reads src; src changes; the other reads it; the first writes and
 * returns (the test says when its call has answered); then the other goes on.
 */
const coordinate = async (cb: Cb, slot: string, first: string): Promise<string> => {
  await cb.put(slot, cb.id);
  const arrived = [await cb.recv(), await cb.recv()];
  const early = arrived.find((m) => m.from.startsWith(`${first}.`))!;
  const later = arrived.find((m) => m !== early)!;
  const go = (to: string) => cb.send(to, new Uint8Array([1]));
  await go(early.from);
  await cb.recv(); // the early attempt has read src and acts on it
  await cb.put('src', 10);
  await go(later.from);
  await cb.recv(); // the later attempt has read src
  await go(early.from);
  await cb.recv(); // from the test: the early attempt's call has answered
  await go(later.from);
  return 'released both';
};

/** Reads src, adds src + 1 to the set at dst and returns it, each when `coord` says (a set keeps every attempt's write). */
const readPlusOne = async (cb: Cb, coord: string): Promise<number> => {
  const step = async () => (await cb.send(coord, new Uint8Array([0])), await cb.recv());
  await step();
  const next = ((await cb.get<number>('src')) ?? 0) + 1;
  await step();
  await cb.put('dst', new cb.lattices.SetLattice([next]));
  return next;
};

/**
 * Runs two attempts of `readPlusOne` (one exactly-once call `id`) at once:
 * the early one on an in-process executor, the later one on an executor
 * process whose clock is 30 s behind. Resolves with both results.
 */
async function raceOnExecutors(t: Test, id: string, atomic: boolean): Promise<{ a: unknown; b: unknown; kvs: KvsClient; dst: unknown[] }> {
  const { nats, client, executors } = await startCluster(t, { threads: 2 });
  const early = executors[0]!;
  const env = { ...process.env, CB_TEST_CLOCK_OFFSET_MS: '-30000', NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import=${pathToFileURL(CLOCK_OFFSET).href}` };
  const behind = new CliProcess(['executor', '--nats', nats.url, '--id', 'exec-behind', '--heartbeat-ms', '1000'], env);
  t.teardown(() => void behind.child.kill('SIGKILL'));
  await behind.waitFor(/ready on/);
  await client.register('coordinate', coordinate);
  await client.register('readPlusOne', readPlusOne);

  const transport = await NatsTransport.connect({ servers: nats.url });
  const kvs = new KvsClient(transport, subjectsFor());
  t.teardown(async () => {
    kvs.close();
    await transport.close();
  });
  const subjects = subjectsFor();
  // Each attempt is sent to its executor as a router sends a call (and a retry, to where it chooses).
  const callOn = async (executor: string, fn: string, args: unknown[], once: boolean): Promise<unknown> => {
    const fields = { fn, args, consistency: 'lww', once, atomic: once && atomic, id: once ? id : `c-${fn}` };
    return decode(((await request(transport, subjects.exec(executor), 'call', fields, deadlineIn(20_000))) as { result: Uint8Array }).result);
  };
  const released = callOn(early.id, 'coordinate', ['coord-slot', early.id], false);
  let coord: string | undefined;
  await eventually('the coordinator runs', async () => (coord = await client.get<string>('coord-slot')) !== undefined);
  const second = callOn('exec-behind', 'readPlusOne', [coord], true);
  const a = await callOn(early.id, 'readPlusOne', [coord], true);
  await request(transport, subjects.instance(coord!), FN_MESSAGE, { from: 'test', data: new Uint8Array([3]) }, deadlineIn(5_000));
  const b = await second;
  t.equal(await released, 'released both');
  return { a, b, kvs, dst: [...((await client.get<ReadonlySet<number>>('dst')) ?? [])] };
}

t.test('end to end: two attempts in the function at once, the later on an executor with a slow clock, return one result', async (t) => {
  const { a, b, dst } = await raceOnExecutors(t, 'race-e2e', false);
  t.equal(b, a, 'both attempts returned the same result');
  t.same(dst, [a], 'and the stored value is that result, written once');
  t.equal(a, 1, 'the result of the read the first attempt made, before src changed');
});

t.test('end to end, atomic: both attempts commit one write set at one commit time, whatever their clocks', async (t) => {
  const { a, b, kvs, dst } = await raceOnExecutors(t, 'race-atomic', true);
  t.equal(b, a, 'both attempts returned the same result');
  t.same(dst, [a], 'and the stored value is that result, written once');
  const deadline = deadlineIn(10_000);
  const { ts } = (await kvs.get(`${RESERVED_PREFIX}tx/race-atomic`, { deadline }))!.reveal() as { ts: number };
  // Index entries of the transaction in the epochs a minute either side of its commit record's time.
  const epoch = Math.floor(ts / (TX_TIMING.epochMs * 1000));
  const epochs = Array.from({ length: 241 }, (_, i) => epoch - 120 + i);
  const indexes = await Promise.all(epochs.map((e) => kvs.get(`${RESERVED_PREFIX}idx/dst/${e}`, { deadline })));
  const indexed = indexes.flatMap((index, i) => ((index as MapLattice<Lattice> | undefined)?.get('race-atomic') ? [epochs[i]!] : []));
  t.same(indexed, [epoch], 'one index epoch: the commit record\'s');
});
