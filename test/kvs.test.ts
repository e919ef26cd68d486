// The KVS shard and the shared client: lattice merges, batching, typed errors
// for bad operations, and values too large for the wire.

import t from 'tap';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { KvsClient } from '../lib/client/kvs_client.js';
import { encodeMessage } from '../lib/codec/index.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../lib/config.js';
import { CloudburstError, LatticeTypeMismatch, MalformedMessage, PayloadTooLarge } from '../lib/errors.js';
import { LWWPair, MaxIntLattice, SetLattice } from '../lib/lattice/index.js';
import { readReply, request } from '../lib/actor/rpc.js';
import { deadlineIn } from '../lib/deadline.js';
import { subjectsFor } from '../lib/subjects.js';
import { CliProcess } from './fixtures/cli.js';
import { startCluster } from './fixtures/cluster.js';
import { startNats } from './fixtures/nats.js';
import { WatchedTransport } from './fixtures/watched_transport.js';

t.test('put, get and delete through the client', async (t) => {
  const { client } = await startCluster(t);
  t.equal(await client.get('k'), undefined, 'a missing key reads as undefined');
  await client.put('k', { a: 1 });
  t.same(await client.get('k'), { a: 1 });
  await client.put('k', 'newer');
  t.equal(await client.get('k'), 'newer', 'the later write wins');
  await client.delete('k');
  t.equal(await client.get('k'), undefined);
});

t.test('lattice puts merge: concurrent writers converge to the join', async (t) => {
  const { client } = await startCluster(t);
  await Promise.all([1, 7, 3].map((n) => client.put('max', new MaxIntLattice(n))));
  t.equal(await client.get('max'), 7);
  await Promise.all(['x', 'y'].map((e) => client.put('set', new SetLattice([e]))));
  t.same([...((await client.get<ReadonlySet<string>>('set')) ?? [])].sort(), ['x', 'y']);
  const older = new LWWPair(10, 'w', 'old');
  const newer = new LWWPair(20, 'w', 'new');
  await client.put('lww', newer);
  await client.put('lww', older);
  t.equal(await client.get('lww'), 'new', 'a late-arriving older write does not win');
});

t.test('a put of another lattice kind is LatticeTypeMismatch and changes nothing', async (t) => {
  const { client } = await startCluster(t);
  await client.put('n', new MaxIntLattice(5));
  await t.rejects(client.put('n', new SetLattice(['a'])), LatticeTypeMismatch);
  t.equal(await client.get('n'), 5);
});

t.test('operations in one tick travel as one batch message', async (t) => {
  const { nats } = await startCluster(t);
  const transport = new WatchedTransport(await NatsTransport.connect({ servers: nats.url }));
  t.teardown(() => transport.close());
  const kvs = new KvsClient(transport, subjectsFor());
  await Promise.all(Array.from({ length: 50 }, (_, i) => kvs.put(`k${i}`, new MaxIntLattice(i))));
  const values = await Promise.all(Array.from({ length: 50 }, (_, i) => kvs.get(`k${i}`)));
  t.same(values.map((v) => v?.reveal()), Array.from({ length: 50 }, (_, i) => i));
  t.equal(transport.sent.filter((m) => m.subject.startsWith('cb.kvs.')).length, 2, '50 puts then 50 gets took two messages');
});

t.test('a batch larger than max_payload travels in pieces; one value over the message limit is PayloadTooLarge', async (t) => {
  const { nats, client } = await startCluster(t);
  const transport = new WatchedTransport(await NatsTransport.connect({ servers: nats.url }));
  t.teardown(() => transport.close());
  const kvs = new KvsClient(transport, subjectsFor());
  const big = 'x'.repeat(400 * 1024);
  await Promise.all([0, 1, 2, 3].map((i) => kvs.put(`big${i}`, LWWPair.now(big, 'test'))));
  t.ok(transport.sent.length > 1, `four 400 KiB puts took several messages (${transport.sent.length})`);
  const read = await Promise.all([0, 1, 2, 3].map((i) => kvs.get(`big${i}`)));
  t.ok(read.every((v) => v?.reveal() === big), 'all four are stored and readable');

  // Above max_payload is chunked (test/chunking.test.ts); above maxMessageBytes it is refused.
  const huge = await client.put('huge', 'y'.repeat(DEFAULT_MAX_MESSAGE_BYTES)).catch((err: unknown) => err);
  t.type(huge, PayloadTooLarge, 'a 64 MiB value is PayloadTooLarge');
  t.match((huge as PayloadTooLarge).data, { limit: DEFAULT_MAX_MESSAGE_BYTES }, 'naming the limit');
  t.equal(await client.get('huge'), undefined, 'nothing was stored');
});

t.test('malformed operations get typed errors and the shard keeps serving', async (t) => {
  const { nats, client, kvs: shard } = await startCluster(t);
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  await t.rejects(request(transport, shard.subject, 'batch', { ops: 'nope' }, deadlineIn(2000)), MalformedMessage);
  const body = (await request(transport, shard.subject, 'batch', { ops: [{ op: 'frob', key: 'a' }, { op: 'get' }] }, deadlineIn(2000))) as {
    results: { error?: { code: string } }[];
  };
  t.same(body.results.map((r) => r.error?.code), ['MALFORMED_MESSAGE', 'MALFORMED_MESSAGE'], 'each bad op fails alone');
  await t.rejects(transport.request(shard.subject, new Uint8Array([0xff, 0xfe]), 2000).then(readReply), MalformedMessage);
  await t.rejects(transport.request(shard.subject, encodeMessage('teleport', {}), 2000).then(readReply), { code: 'UNKNOWN_MESSAGE_TYPE' });
  await client.put('still', 'serving');
  t.equal(await client.get('still'), 'serving');
});

t.test('operations retried together go again together: one message a round, not one per op', async (t) => {
  const nats = await startNats(t);
  // A real shard process, killed: its subject has no responders while the
  // client still counts it in the ring, so every attempt fails and waits.
  const shard = new CliProcess(['kvs', '--nats', nats.url, '--durability', 'none']);
  t.teardown(() => void shard.child.kill('SIGKILL'));
  const [, subject] = (await shard.waitFor(/kvs \S+ ready on (\S+)/)) as [string, string];
  const transport = new WatchedTransport(await NatsTransport.connect({ servers: nats.url }));
  t.teardown(() => transport.close());
  const kvs = new KvsClient(transport, subjectsFor(), { memberTimeoutMs: 60_000, timeoutMs: 1_000 });
  t.teardown(() => kvs.close());
  await kvs.put('warm', new MaxIntLattice(1));
  shard.child.kill('SIGKILL');
  await shard.exited();
  const before = transport.sent.length;
  const settled = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => kvs.put(`r${i}`, new MaxIntLattice(i))));
  t.ok(settled.every((s) => s.status === 'rejected' && s.reason instanceof CloudburstError), 'all fail at their deadline, typed');
  const sent = transport.sent.slice(before).filter((m) => m.subject === subject).length;
  // A round every 100 ms or so within the 1 s deadline; one message per op was 301 here.
  t.ok(sent < 50, `50 puts retried for 1 s took ${sent} messages`);
});

t.test('200k operations for one shard in one tick all settle and the process lives on', { timeout: 120_000 }, async (t) => {
  // Spreading that many deadlines into Math.min/max overflowed the stack
  // outside any try: an unhandled rejection that ended the process.
  const { nats } = await startCluster(t);
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const kvs = new KvsClient(transport, subjectsFor(), { timeoutMs: 10_000 });
  t.teardown(() => kvs.close());
  const n = 200_000;
  // Twice: first before the client has heard of any shard (it waits for the
  // ring), then with the ring known (straight to the shard's batches).
  for (const round of ['cold', 'warm']) {
    const ops = Array.from({ length: n }, (_, i) => {
      const key = `many${i % 1000}`;
      if (i % 3 === 0) return kvs.put(key, new MaxIntLattice(i));
      if (i % 3 === 1) return kvs.get(key);
      return kvs.delete(`gone${i}`);
    });
    const settled = await Promise.allSettled(ops);
    t.equal(settled.length, n, `${round}: every operation settled`);
    // One shard on a busy machine may not get through them all within the
    // deadline: those fail, but as typed errors to their callers.
    const failed = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
    t.ok(
      failed.every((e) => e instanceof CloudburstError),
      `${round}: ${n - failed.length} resolved, ${failed.length} rejected with typed errors`,
    );
  }
  await kvs.put('after', new MaxIntLattice(1));
  t.equal((await kvs.get('after'))?.reveal(), 1, 'the client still serves');
});
