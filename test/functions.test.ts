// Registering and calling functions end to end: real NATS, a real router, an
// executor with real worker threads, and state in a real KVS shard.

import t from 'tap';
import type { Cb } from '../lib/function_api.js';
import { KvsNode } from '../kvs-node/kvs_node.js';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { readReply } from '../lib/actor/rpc.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import { encodeMessage } from '../lib/codec/index.js';
import { DEFAULT_MAX_MESSAGE_BYTES, kvsConfig, routerConfig } from '../lib/config.js';
import {
  DeadlineExceeded,
  ExecutionError,
  FunctionNotFound,
  InvalidArgument,
  MalformedMessage,
  NoCapacity,
  PayloadTooLarge,
} from '../lib/errors.js';
import { subjectsFor } from '../lib/subjects.js';
import { RouterNode } from '../router/router_node.js';
import { startCluster } from './fixtures/cluster.js';
import { startNats } from './fixtures/nats.js';

t.test('a function reads and writes shared state other calls see', async (t) => {
  const { client } = await startCluster(t);
  await client.register('add', async (cb: Cb, key: string, n: number) => {
    const have = (await cb.get<number>(key)) ?? 0;
    await cb.put(key, have + n);
    return have + n;
  });
  t.equal(await client.call('add', ['total', 2]), 2);
  t.equal(await client.call('add', ['total', 5]), 7);
  t.equal(await client.get('total'), 7, 'the client reads what the function wrote');
  await client.put('total', 100);
  t.equal(await client.call('add', ['total', 1]), 101, 'the function reads what the client wrote');
});

t.test('arguments and results keep their types, lattices included', async (t) => {
  const { client } = await startCluster(t);
  await client.register('echo', async (_cb: Cb, ...args: unknown[]) => args);
  const args = [1, 'two', { three: [3] }, null, true, new Uint8Array([1, 2, 3])];
  t.same(await client.call('echo', args), args);
  await client.register('guests', async (cb: Cb, who: string) => {
    await cb.put('guests', new cb.lattices.SetLattice([who]));
    return cb.getLattice('guests');
  });
  await Promise.all(['a', 'b', 'c'].map((g) => client.call('guests', [g])));
  t.same([...((await client.get<ReadonlySet<string>>('guests')) ?? [])].sort(), ['a', 'b', 'c'], 'concurrent set adds all merge');
});

t.test('registering again replaces the code every executor runs', async (t) => {
  const { client } = await startCluster(t, { executors: 2 });
  await client.register('version', async () => 1);
  const first = await Promise.all(Array.from({ length: 6 }, () => client.call('version')));
  t.same(first, [1, 1, 1, 1, 1, 1]);
  await client.register('version', async () => 2);
  const second = await Promise.all(Array.from({ length: 6 }, () => client.call('version')));
  t.same(second, [2, 2, 2, 2, 2, 2]);
});

t.test('functions registered as module source and as method shorthand', async (t) => {
  const { client } = await startCluster(t);
  await client.register('mod', 'export default async function (cb, x) { return x * 3 }');
  t.equal(await client.call('mod', [4]), 12);
  const obj = {
    async shorthand(_cb: Cb, x: number) {
      return x + 1;
    },
  };
  // Only the method's source is shipped, so its `this` never matters.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  await client.register('shorthand', obj.shorthand);
  t.equal(await client.call('shorthand', [1]), 2);
});

t.test('an unknown function is FunctionNotFound', async (t) => {
  const { client } = await startCluster(t);
  await t.rejects(client.call('missing', []), FunctionNotFound);
  await t.rejects(client.call('missing', []), { code: 'FUNCTION_NOT_FOUND', message: /missing/ });
});

t.test('a function that throws is an ExecutionError with its message; the executor keeps serving', async (t) => {
  const { client } = await startCluster(t);
  await client.register('fails', async () => {
    throw new RangeError('out of cheese');
  });
  await t.rejects(client.call('fails'), ExecutionError);
  await t.rejects(client.call('fails'), { message: /RangeError: out of cheese/ });
  await client.register('ok', async () => 'fine');
  t.equal(await client.call('ok'), 'fine');
});

t.test('source that does not parse or has no default function is refused at register; what only loading shows fails on call', async (t) => {
  const { client } = await startCluster(t);
  await t.rejects(client.register('syntax', 'export default async function (cb) { return 1 +; }'), {
    code: 'INVALID_ARGUMENT',
    message: /^function "syntax" does not parse as a JavaScript module: line 1, column 48: Expression expected/,
  });
  await t.rejects(client.register('typed', 'export default async (cb: unknown) => 1;'), { code: 'INVALID_ARGUMENT', message: /TypeScript/ });
  await t.rejects(client.register('nodefault', 'export const x = 1;'), { code: 'INVALID_ARGUMENT', message: /^function "nodefault": the module has no default export/ });
  await t.rejects(client.register('literal', 'export default { run() {} };'), { code: 'INVALID_ARGUMENT', message: /is not a function/ });
  await t.rejects(client.register('klass', 'export default class { }'), { code: 'INVALID_ARGUMENT', message: /class/ });
  await t.rejects(client.register('klassValue', class {} as never), { code: 'INVALID_ARGUMENT', message: /class/ });
  await t.rejects(client.call('syntax'), FunctionNotFound, 'nothing refused was stored');
  // Accepted: a default export named by an identifier, or by an export list.
  await client.register('named', 'async function run(cb, x) { return x * 2; }\nexport { run as default };');
  t.equal(await client.call('named', [21]), 42);
  // What no parse tells: top-level code that throws, an identifier that is not a function.
  await client.register('throws', "throw new Error('no config'); export default async () => 1;");
  await t.rejects(client.call('throws'), { code: 'EXECUTION_ERROR', message: /no config/ });
  await client.register('notfn', 'const x = 1; export default x;');
  await t.rejects(client.call('notfn'), { code: 'EXECUTION_ERROR', message: /default export/ });
});

t.test('a function that never returns is cancelled at its deadline and its worker recycled', async (t) => {
  const { client, executors } = await startCluster(t, { threads: 1 });
  await client.register('forever', async () => {
    for (;;) {
      // Busy forever: only terminating the thread stops this.
    }
  });
  await client.register('ok', async () => 'still here');
  await t.rejects(client.call('forever', [], { timeoutMs: 500 }), DeadlineExceeded);
  // The message names the function and what became of it, not an internal subject.
  const err = (await client.call('forever', [], { timeoutMs: 500 }).catch((e: unknown) => e)) as DeadlineExceeded;
  t.match(err.message, /^function "forever" was cancelled at its deadline/);
  t.notMatch(err.message, /\bcb\.sched\b/);
  t.same(err.data, { name: 'forever', timeoutMs: 500 });
  await client.registerDag('forever_dag', ['forever']);
  const dagErr = (await client.callDag('forever_dag', {}, { timeoutMs: 500 }).catch((e: unknown) => e)) as DeadlineExceeded;
  t.type(dagErr, DeadlineExceeded);
  t.match(dagErr.message, /^DAG "forever_dag" was cancelled at its deadline/);
  t.equal(await client.call('ok'), 'still here', 'the one thread was replaced and serves the next call');
  t.ok(executors[0], 'executor exists');
});

t.test('callFuture honours exactlyOnce, requestId, consistency and atomic as call does', async (t) => {
  const { client } = await startCluster(t);
  await client.register('bump', async (cb: Cb, key: string) => {
    const n = ((await cb.get<number>(key)) ?? 0) + 1;
    await cb.put(key, n);
    return n;
  });
  const once = { exactlyOnce: true, requestId: 'bump-1' };
  t.equal(await client.callFuture<number>('bump', ['once'], once).result(), 1);
  t.equal(await client.callFuture<number>('bump', ['once'], once).result(), 1, 'the same requestId under exactlyOnce returns the first result');
  t.equal(await client.get('once'), 1, 'and repeats no effect');
  await client.register('causalEcho', async (cb: Cb, key: string) => {
    await cb.put(key, 'v');
    return cb.get(key);
  });
  t.same(await client.callFuture('causalEcho', ['c'], { consistency: 'causal' }).result(), ['v'], 'under causal, get returns the concurrent values');
  await client.register('writeThenFail', async (cb: Cb, key: string) => {
    await cb.put(key, 1);
    throw new Error('changed my mind');
  });
  await t.rejects(client.callFuture('writeThenFail', ['tx'], { atomic: true }).result(), ExecutionError);
  t.equal(await client.get('tx'), undefined, 'an atomic call that threw wrote nothing');
});

t.test('atomic with causal is refused (InvalidArgument) by the client, the executor and the router, not run as lww', async (t) => {
  const { nats, client, executors } = await startCluster(t);
  await client.register('echo', async (_cb: Cb, x: unknown) => x);
  await client.registerDag('echoDag', ['echo'], []);
  const both = { atomic: true, consistency: 'causal' as const };
  await t.rejects(client.call('echo', [1], both), InvalidArgument, 'call');
  await t.rejects(client.callDag('echoDag', { echo: [1] }, both), InvalidArgument, 'DAG call');
  t.throws(() => client.callFuture('echo', [1], both), InvalidArgument, 'future: at once, as no call starts');
  // What another client sends on the wire is refused too.
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const deadline = Date.now() + 5000;
  const fields = { args: [1], deadline, consistency: 'causal', atomic: true };
  await t.rejects(transport.request(executors[0]!.subject, encodeMessage('call', { fn: 'echo', ...fields }), 5000).then(readReply), InvalidArgument, 'a call sent to an executor');
  await t.rejects(transport.request(subjectsFor().sched, encodeMessage('call', { fn: 'echo', ...fields }), 5000).then(readReply), InvalidArgument, 'a call sent to the router');
  await t.rejects(transport.request(subjectsFor().sched, encodeMessage('dag', { dag: 'echoDag', args: { echo: [1] }, deadline, consistency: 'causal', atomic: true }), 5000).then(readReply), InvalidArgument, 'a DAG call sent to the router');
  t.same(await client.call('echo', [2], { atomic: true, consistency: 'rr' }), 2, 'atomic with rr runs');
});

t.test('bad names and reserved keys are InvalidArgument and change nothing', async (t) => {
  const { client } = await startCluster(t);
  await t.rejects(client.register('no spaces', async () => 1), InvalidArgument);
  await t.rejects(client.register('x', 42 as never), InvalidArgument);
  await t.rejects(client.put('__cb/fn/x', 1), InvalidArgument);
  await t.rejects(client.get(''), InvalidArgument);
  await client.register('reserved', async (cb: Cb) => cb.put('__cb/fn/reserved', 1));
  await t.rejects(client.call('reserved'), InvalidArgument, 'functions cannot overwrite platform keys either');
});

t.test('malformed bytes to the router and the executor get typed errors; both keep serving', async (t) => {
  const { nats, client, executors } = await startCluster(t);
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const subjects = subjectsFor();
  const executor = executors[0]!;
  for (const subject of [subjects.sched, executor.subject]) {
    await t.rejects(transport.request(subject, new Uint8Array([0x9f, 0x01]), 2000).then(readReply), MalformedMessage, `garbage to ${subject}`);
    await t.rejects(transport.request(subject, encodeMessage('call', { fn: 7 }), 2000).then(readReply), MalformedMessage, `bad fields to ${subject}`);
    await t.rejects(transport.request(subject, encodeMessage('call', { fn: 'x', args: [], deadline: Date.now() + 1000 }, 2000), 2000).then(readReply), FunctionNotFound);
  }
  await client.register('ok', async () => 'ok');
  t.equal(await client.call('ok'), 'ok');
});

t.test('arguments or results larger than the message limit are PayloadTooLarge', async (t) => {
  const { client } = await startCluster(t);
  await client.register('big', async (_cb: Cb, n: number) => 'z'.repeat(n));
  // Above NATS max_payload travels in pieces (test/chunking.test.ts); above maxMessageBytes is refused.
  await t.rejects(client.call('big', ['a'.repeat(DEFAULT_MAX_MESSAGE_BYTES)]), PayloadTooLarge, 'oversized arguments');
  await t.rejects(client.call('big', [DEFAULT_MAX_MESSAGE_BYTES]), PayloadTooLarge, 'oversized result');
  t.equal(await client.call('big', [2 * 1024 * 1024]), 'z'.repeat(2 * 1024 * 1024), 'a 2 MiB result, above max_payload, arrives');
  t.equal(await client.call('big', [3]), 'zzz', 'the executor keeps serving');
});

t.test('with no executor, a call is NoCapacity once the router has waited for one', async (t) => {
  const nats = await startNats(t);
  const common = { nats: nats.url, heartbeatMs: 100 };
  const kvs = await KvsNode.create(kvsConfig({ ...common, durability: 'none' }));
  const router = await RouterNode.create(routerConfig(common));
  await kvs.start();
  await router.start();
  const client = await Cloudburst.connect({ servers: nats.url, timeoutMs: 5000 });
  t.teardown(async () => {
    await client.close();
    await router.stop();
    await kvs.stop();
  });
  await t.rejects(client.call('anything'), NoCapacity);
});
