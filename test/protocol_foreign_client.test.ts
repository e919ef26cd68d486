// A client written from docs/protocol.md alone (fixtures/foreign_client_worker.ts:
// NATS and a generic CBOR encoder in a worker thread that loads none of our
// code) against a real cluster of three shards: it calls functions and DAGs,
// reads, writes and deletes keys through the hash ring, registers a function,
// and gets typed errors. Functions are registered with the SDK, and what the
// foreign client writes is read back through the SDK, and the other way round.

import { readFileSync } from 'node:fs';
import t from 'tap';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { decode, encode, encodeMessage } from '../lib/codec/index.js';
import type { Cb } from '../lib/function_api.js';
import { HashRing } from '../lib/kvs/hash_ring.js';
import { SetLattice } from '../lib/lattice/index.js';
import { startCluster } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';
import { ForeignClient, type PlainTag, type RunOutcome, type WireError } from './fixtures/foreign_client.js';
import { EXAMPLE_DEADLINE, sdkCallFields } from './fixtures/protocol_examples.js';

// One thread: a call cancelled at its deadline replaces it, which the deadline test looks for.
const cluster = await startCluster(t, { shards: 3, threads: 1 });
const { client } = cluster;
await client.register('sum', async (_cb: Cb, a: number, b: number) => a + b);
await client.register('echo', async (_cb: Cb, x: unknown) => x);
await client.register('thread', "import { threadId } from 'node:worker_threads';\nexport default async () => threadId;\n");
await client.register('slow', async (_cb: Cb, ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
await client.register('size', async (_cb: Cb, s: string) => s.length);
await client.register('big', async (_cb: Cb, n: number) => 'x'.repeat(n));
await client.register('increment', async (_cb: Cb, x: number) => x + 1);
await client.register('square', async (_cb: Cb, x: number) => x * x);
await client.registerDag('sq_inc', ['increment', 'square'], [['increment', 'square']]);
await client.registerDag('big_dag', ['increment', 'big'], [['increment', 'big']]);
const foreign = ForeignClient.start(t, cluster.nats.url);
const shardIds = await foreign.ask<string[]>('ring', 3);

const MIB = 1024 * 1024;
const code = (outcome: RunOutcome | WireError | undefined): string | undefined => (outcome && 'code' in outcome ? outcome.code : outcome?.err?.code);

void t.test('the foreign client loads nothing of cloudburst', async (t) => {
  const imports = (file: string): string[] =>
    [...readFileSync(new URL(`./fixtures/${file}`, import.meta.url), 'utf8').matchAll(/^import[^;]*?from '([^']+)'|^import '([^']+)'/gm)].map((m) => m[1] ?? m[2]!);
  t.same(imports('foreign_client_worker.js').sort(), ['./generic_cbor.js', '@nats-io/transport-node', 'cbor-x', 'node:crypto', 'node:worker_threads']);
  t.same(imports('generic_cbor.js'), ['cbor-x']);
});

void t.test('calling a function', async (t) => {
  const sum = await foreign.call('sum', [2, 3]);
  t.equal(sum.ok, 5, 'the result, decoded from the byte string of the answer');
  t.same([...sum.resultBytes!], [0x05], 'which is plain CBOR');

  // What the SDK puts on the wire is the doc's example, but for the deadline.
  const spy = await NatsTransport.connect({ servers: cluster.nats.url });
  t.teardown(() => spy.close());
  const seen: Uint8Array[] = [];
  const sub = spy.subscribe('cb.sched', (m) => seen.push(m.data.slice()));
  await spy.flush();
  t.equal(await client.call('sum', [2, 3]), 5);
  sub.unsubscribe();
  const sent = decode(seen[0]!) as Record<string, unknown>;
  t.equal(typeof sent['deadline'], 'number');
  t.same(
    Buffer.from(encode({ ...sent, deadline: EXAMPLE_DEADLINE })),
    Buffer.from(encodeMessage('call', { ...sdkCallFields(), deadline: EXAMPLE_DEADLINE })),
    'the SDK sends the bytes of docs/protocol.md\'s call-request example',
  );

  await client.put('motd', 'hello');
  t.equal((await foreign.call('echo', [{ $tag: 40520, value: 'motd' }])).ok, 'hello', 'a reference (tag 40520) is passed as the key\'s value');
  const missing = await foreign.call('nope', []);
  t.equal(code(missing), 'FUNCTION_NOT_FOUND', 'a function nobody registered');
  t.same(missing.err?.data, { name: 'nope' }, 'names it in data');
  t.equal(code(await foreign.call('slow', [3000], Date.now() + 300)), 'DEADLINE_EXCEEDED', 'a function still running at the deadline');
});

void t.test('a deadline of any width', async (t) => {
  const thread = (await foreign.call('thread', [])).ok;
  for (const [what, deadline] of [
    ['uint8', 200],
    ['uint16', 60_000],
    ['uint32', 4_000_000_000],
  ] as const) {
    t.equal(code(await foreign.call('sum', [1, 1], deadline)), 'DEADLINE_EXCEEDED', `${what}: read as a time long past`);
  }
  t.equal((await foreign.call('thread', [])).ok, thread, 'calls past their deadline were not started (no thread was cancelled)');
  t.equal((await foreign.call('sum', [1, 1])).ok, 2, 'uint64 (now + 10 s, as a standard encoder writes it)');
  t.equal((await foreign.call('sum', [1, 2], Date.now() + 10_000.5)).ok, 3, 'float64');
  t.equal((await foreign.call('slow', [300], Number.MAX_SAFE_INTEGER)).ok, undefined, '2^53 - 1: as long as possible');
  t.equal(code(await foreign.call('sum', [1, 1], 2n ** 53n)), 'MALFORMED_MESSAGE', '2^53 is no number a deadline can be');
  t.equal(code(await foreign.call('sum', [1, 1], null)), 'MALFORMED_MESSAGE', 'none at all');
  const dag = await foreign.ask<Record<string, unknown>>('sched', { v: 1, t: 'dag', dag: 'sq_inc', args: { increment: [3] } });
  t.match(dag, { t: 'err', error: { code: 'MALFORMED_MESSAGE' } }, 'none at all, on a DAG call');
});

void t.test('envelopes a node does not speak', async (t) => {
  const unknown = await foreign.ask<Record<string, unknown>>('sched', { v: 1, t: 'frobnicate', deadline: Date.now() + 5000 });
  t.match(unknown, { t: 'err', error: { code: 'UNKNOWN_MESSAGE_TYPE' } }, 'an unknown type');
  const version = await foreign.ask<Record<string, unknown>>('sched', { v: 2, t: 'status', deadline: Date.now() + 5000 });
  t.match(version, { v: 1, t: 'err', error: { code: 'UNKNOWN_MESSAGE_TYPE', data: { v: 2 } } }, 'another version');
  t.match(await foreign.ask('noResponders'), /503|no responders/i, 'a subject nobody serves: no responders');
});

void t.test('calling a DAG', async (t) => {
  t.equal((await foreign.callDag('sq_inc', { increment: [3] })).ok, 16);
  t.equal(code(await foreign.callDag('nope', {})), 'DAG_NOT_FOUND');
  const big = await foreign.callDag('big_dag', { increment: [1.2 * MIB] });
  t.equal(code(big), 'PAYLOAD_TOO_LARGE', 'a DAG result larger than one NATS message');
  t.match(big.err?.data, { size: Number, limit: MIB });
});

void t.test('large messages travel in pieces, both ways', async (t) => {
  t.equal((await foreign.call('size', ['y'.repeat(1.5 * MIB)])).ok, 1.5 * MIB, 'a request of 1.5 MiB, pushed');
  const big = await foreign.call('big', [2.5 * MIB]);
  t.equal((big.ok as string).length, 2.5 * MIB, 'an answer of 2.5 MiB, pulled');
});

void t.test('the KVS through the hash ring', async (t) => {
  t.same(shardIds, cluster.shards.map((s) => s.id).sort(), 'the ring holds every shard, from heartbeats');
  const ring = new HashRing(shardIds);
  for (const key of ['motd', 'likes/post-1', 'k3']) {
    t.same(await foreign.ask('readReplicas', key), ring.replicas(key, 2), `the replicas of ${key} are the JavaScript ring's`);
  }

  t.equal(await foreign.ask('put', 'foreign/plain', 'hello'), undefined, 'a put of a plain value');
  t.equal(await client.get('foreign/plain'), 'hello', 'the SDK reads it');
  await client.put('sdk/plain', { a: 1 });
  const got = await foreign.ask<{ value: PlainTag }>('get', 'sdk/plain');
  t.equal(got.value.tag, 40501, 'the SDK\'s plain value is a last-writer-wins lattice');
  t.same((got.value.value as unknown[])[2], { a: 1 }, 'holding the value');

  await client.put('tags', new SetLattice(['b']));
  t.equal(await foreign.ask('put', 'tags', { $tag: 40502, value: ['a'] }), undefined, 'a put of a set lattice');
  t.same([...((await client.get<Set<string>>('tags')) ?? [])].sort(), ['a', 'b'], 'merged with what the key held');
  t.equal(code(await foreign.ask<WireError>('put', 'tags', { $tag: 40505, value: 5 })), 'LATTICE_TYPE_MISMATCH', 'a put of another kind fails alone');

  await foreign.ask('put', 'huge', 2n ** 60n);
  t.equal(await client.get('huge'), 2n ** 60n, 'an integer beyond 2^53 is kept exactly (a BigInt in JavaScript)');
  t.equal(((await foreign.ask<{ value: PlainTag }>('get', 'huge')).value.value as unknown[])[2], 2n ** 60n, 'and comes back exactly');
  await foreign.ask('put', 'wide', 5_000_000_000);
  t.equal(await client.get('wide'), 5_000_000_000, 'an 8-byte integer within 2^53 is a number');

  t.equal(await foreign.ask('del', 'foreign/plain'), undefined, 'a delete');
  t.same(await foreign.ask('get', 'foreign/plain'), {}, 'reads as absent');
  t.equal(await client.get('foreign/plain'), undefined, 'for the SDK too');
  await foreign.ask('put', 'foreign/plain', 'again');
  t.equal(await client.get('foreign/plain'), 'again', 'until a later put');

  const replicas = await foreign.ask<string[]>('readReplicas', 'motd');
  const other = shardIds.find((id) => !replicas.includes(id))!;
  const wrong = await foreign.ask<{ ok: { results: { error: WireError }[] } }>('batchAt', other, [{ op: 'get', key: 'motd' }]);
  t.equal(wrong.ok.results[0]!.error.code, 'WRONG_SHARD', 'a shard that does not hold the key');
  t.equal((wrong.ok.results[0]!.error.data!['members'] as unknown[]).length, 3, 'says which shards it knows');

  const [first, second] = await foreign.ask<string[]>('writeReplicas', 'forwarded');
  const value = { $tag: 40501, value: [Date.now() * 1000, 'foreign-w', 'passed on'] };
  t.same(await foreign.ask('batchAt', first, [{ op: 'put', key: 'forwarded', value }]), { ok: { results: [{}] } }, 'a put sent to one replica, without `ring`');
  const atSecond = await foreign.ask<{ ok: { results: { value: PlainTag }[] } }>('batchAt', second, [{ op: 'get', key: 'forwarded' }]);
  t.equal((atSecond.ok.results[0]!.value.value as unknown[])[2], 'passed on', 'is on the other replica once answered');

  await client.setReplication('pinned', 3);
  await eventually('the router publishes the pinned factor', async () =>
    (await foreign.ask<{ overrides: [string, number][] }>('replication')).overrides.some(([k, n]) => k === 'pinned' && n === 3),
  );
  t.equal((await foreign.ask<string[]>('writeReplicas', 'pinned')).length, 3, 'a pinned key is written to as many shards');
});

void t.test('registering from the foreign client', async (t) => {
  t.equal(await foreign.ask('register', 'foreign_mul', 'export default async (cb, a, b) => a * b;\n'), undefined);
  t.equal((await foreign.call('foreign_mul', [6, 7])).ok, 42, 'the foreign client calls it');
  t.equal(await client.call('foreign_mul', [6, 7]), 42, 'so does the SDK');
  t.equal(await foreign.ask('registerDag', 'foreign_dag', ['increment', 'foreign_mul'], [['increment', 'foreign_mul']]), undefined);
  t.equal((await foreign.callDag('foreign_dag', { increment: [1], foreign_mul: [10] })).ok, 20, 'and a DAG: upstream results follow the arguments');
  const schema = { type: 'array', items: [{ type: 'number' }, { type: 'number' }], minItems: 2, maxItems: 2 };
  t.equal(await foreign.ask('register', 'foreign_checked', 'export default async (cb, a, b) => a * b;\n', schema), undefined);
  t.equal((await foreign.call('foreign_checked', [6, 7])).ok, 42, 'arguments that match the schema');
  t.match(await foreign.call('foreign_checked', [6, 'x']), { err: { code: 'INVALID_ARGUMENT', data: { errors: [{ path: 'args[1]' }] } } }, 'arguments that do not');
  await foreign.ask('register', 'broken', 'this is not JavaScript');
  t.equal(code(await foreign.call('broken', [])), 'EXECUTION_ERROR', 'code that does not load fails when called');
});

void t.test('membership and status', async (t) => {
  const beats = await foreign.ask<Record<string, unknown>[]>('heartbeats');
  const shard = beats.find((b) => b['kind'] === 'kvs')!;
  for (const field of ['id', 'kind', 'subject', 'startedAt', 'incarnation', 'at', 'uptimeMs', 'state', 'replication', 'keys']) t.ok(field in shard, `a shard's heartbeat has ${field}`);
  t.same(new Set(beats.map((b) => b['kind'])), new Set(['kvs', 'executor', 'router']), 'every kind heartbeats');
  const status = await foreign.ask<{ ok: { router: string; at: number; members: Record<string, unknown>[] } }>('status');
  t.equal(status.ok.router, cluster.router.id, 'a router answers status');
  t.equal(status.ok.members.length, 5, 'with every node it hears');
  t.ok(status.ok.members.every((m) => typeof m['seenAt'] === 'number'), 'each with when it was heard');
});
