// Read-atomic transactions at the level of their metadata, over a real KVS
// shard, with index epochs of 100 ms so that versions fall out of a reader's
// window within the test: which version a reader picks once the ones it may
// read are older than its window, and what a re-run of a transaction commits.

import t, { type Test } from 'tap';
import { MarkedKeys, Transaction, TxClock, type TxTiming } from '../actors/executor/transaction.js';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { KvsClient } from '../lib/client/kvs_client.js';
import { deadlineIn } from '../lib/deadline.js';
import { DelayedDeletes } from '../lib/kvs/delayed_deletes.js';
import type { BucketTiming } from '../lib/kvs/time_buckets.js';
import { CommitIntents } from '../actors/executor/commit_intents.js';
import { Collector } from '../actors/executor/collector.js';
import { createLogger } from '../lib/log.js';
import { LWWPair, type Lattice } from '../lib/lattice/index.js';
import { RESERVED_PREFIX } from '../lib/reserved_keys.js';
import { subjectsFor } from '../lib/subjects.js';
import { startNats } from './fixtures/nats.js';
import { startShard } from './fixtures/cluster.js';
import { DyingTransport } from './fixtures/dying_transport.js';
import { ForwardingTransport } from './fixtures/forwarding_transport.js';
import { decodeMessage } from '../lib/codec/codec.js';
import type { Transport } from '../lib/actor/transport.js';
import { eventually } from './fixtures/eventually.js';
import { KVS_BATCH } from '../lib/kvs/protocol.js';
import { TransactionConflict } from '../lib/errors.js';

const TIMING: TxTiming = { epochMs: 100, retentionMs: 5_000, commitWindowMs: 1_000 };

/** Buckets of 100 ms, swept `delayMs` after they end. */
const buckets = (delayMs: number): BucketTiming => ({ bucketMs: 100, shards: 2, delayMs, lookbackMs: 60_000, everyMs: 50, giveUpMs: 60_000 });
/** Where a committer on `kvs` files its intents: swept 300 ms after its commit window. */
const intentsOn = (kvs: KvsClient, timing: TxTiming) => new CommitIntents(kvs, buckets((timing.commitWindowMs ?? 10_000) + 300));

/** `collect`: a collector runs (it finishes commits and has their versions deleted after retention); else nothing is deleted. */
async function setUp(t: Test, timing = TIMING, collect = false) {
  const nats = await startNats(t);
  const shard = await startShard(nats.url);
  const transport = await NatsTransport.connect({ servers: nats.url });
  const kvs = new KvsClient(transport, subjectsFor());
  const deletes = new DelayedDeletes(kvs, buckets(300));
  const intents = intentsOn(kvs, timing);
  const collector = collect ? new Collector(kvs, intents, deletes, timing, createLogger('collector', 'silent')) : undefined;
  const marked = new MarkedKeys();
  t.teardown(async () => {
    collector?.close();
    await deletes.close();
    kvs.close();
    await transport.close();
    await shard.stop();
  });
  const deadline = () => deadlineIn(5_000);
  const begin = (id: string, clock?: TxClock) => new Transaction(id, kvs, intents, marked, timing, clock);
  const commit = async (id: string, writes: Record<string, number | Lattice>, clock?: TxClock) => {
    const tx = begin(id, clock);
    for (const [key, value] of Object.entries(writes)) tx.write(key, typeof value === 'number' ? LWWPair.now(value, id) : value);
    await tx.commit(deadline());
  };
  const read = async (tx: Transaction, key: string) => (await tx.read(key, deadline()))?.reveal() as number | undefined;
  return { nats, kvs, begin, commit, read, deadline };
}

/** Waits out `epochs` whole index epochs: versions committed before are then older than any reader's window. */
async function epochsPass(epochs: number, epochMs = TIMING.epochMs): Promise<void> {
  const start = Math.floor(Date.now() / epochMs);
  while (Math.floor(Date.now() / epochMs) < start + epochs) {
    await new Promise((resolve) => setTimeout(resolve, (start + epochs) * epochMs - Date.now() + 1));
  }
}

t.test('a version read from bounds later reads from below without hiding newer ones older than the window', async (t) => {
  const { begin, commit, read } = await setUp(t);
  await commit('t0', { a: 1, b: 1 });
  await epochsPass(3);
  await commit('t1', { b: 2 });
  await epochsPass(3);
  const reader = begin('reader');
  t.equal(await read(reader, 'a'), 1, 'a as t0 left it');
  // Written after the reader read a: t2 would fracture that read, so b is read from before t2.
  await commit('t2', { a: 3, b: 3 });
  t.equal(await read(reader, 'b'), 2, "b as t1 left it: t0 is only the floor, and t1 (out of the window) is newer and fits");
  t.equal(await read(begin('later'), 'b'), 3, 'a new reader sees t2');
});

t.test('a re-run of a transaction commits at the time it is given (an exactly-once call logs it), not at its own', async (t) => {
  const { kvs, begin, commit, read, deadline } = await setUp(t);
  const commitTs = async (id: string) => ((await kvs.get(`${RESERVED_PREFIX}tx/${id}`, { deadline: deadline() }))?.reveal() as { ts: number }).ts;
  await commit('once', { x: 1, y: 1 });
  const first = await commitTs('once');
  await epochsPass(3);
  const rerun = begin('once');
  rerun.write('x', LWWPair.now(1, 'once'));
  rerun.write('y', LWWPair.now(1, 'once'));
  await rerun.commit(deadline(), first);
  t.equal(await commitTs('once'), first, 'one commit time, so one index epoch, for every attempt');
  const reader = begin('reader');
  t.same([await read(reader, 'x'), await read(reader, 'y')], [1, 1]);

  const fresh = begin('fresh');
  fresh.write('x', LWWPair.now(2, 'fresh'));
  await fresh.commit(deadline());
  t.ok((await commitTs('fresh')) > first, 'a transaction given no time commits at its own');
});

t.test("an exactly-once attempt proposes a commit time from its executor's TxClock; every attempt commits and stamps at the decided one", async (t) => {
  const { kvs, begin, read, deadline } = await setUp(t);
  const ahead = new TxClock(() => Date.now() + 3_000);
  const proposer = begin('eo', ahead);
  const proposed = proposer.now();
  t.ok(proposed >= (Date.now() + 2_000) * 1000, "the proposal is on the proposer's clock (3 s ahead), not the machine's");
  t.ok(proposer.now() > proposed, 'and each time that clock gives is later than the last');
  // Another attempt, on an executor whose clock is not ahead, commits at the decided time.
  const other = begin('eo');
  other.write('e1', LWWPair.now(1, 'eo'));
  other.write('e2', LWWPair.now(1, 'eo'));
  await other.commit(deadline(), proposed);
  const commit = (await kvs.get(`${RESERVED_PREFIX}tx/eo`, { deadline: deadline() }))?.reveal() as { ts: number };
  t.equal(commit.ts, proposed, 'committed at the decided time');
  t.equal(((await kvs.get('e1', { deadline: deadline() })) as LWWPair<number>).timestamp, proposed, 'its plain write is stamped with it');
  const reader = begin('reader');
  t.same([await read(reader, 'e1'), await read(reader, 'e2')], [1, 1], 'a reader on its own clock follows the commit ahead');
});

t.test('a key no transaction wrote is read from its plain value; once one has, never again', async (t) => {
  const { kvs, begin, commit, read, deadline } = await setUp(t);
  const plain = (value: number): Lattice => LWWPair.now(value, 'plain');
  await kvs.put('p', plain(7), deadline());
  t.equal(await read(begin('r1'), 'p'), 7, 'plain writes only: the plain value');
  await commit('t1', { p: 8 });
  await kvs.put('p', plain(9), deadline());
  t.equal(await read(begin('r2'), 'p'), 8, 'after a transaction wrote it, atomic readers see committed versions only');
  await epochsPass(3);
  t.equal(await read(begin('r3'), 'p'), 8, 'also once that version is older than the window');
});

t.test('the plain keys end as the last commit wrote them, whenever its writes were stamped', async (t) => {
  // Kept for 500 ms, so a reader soon answers from the plain keys.
  const timing: TxTiming = { epochMs: 100, retentionMs: 500, commitWindowMs: 1_000 };
  const { kvs, begin, commit, read, deadline } = await setUp(t, timing);
  // Writes are stamped when the function makes them (worker threads, other
  // machines), not when its transaction commits: the first commit's write
  // of y carries a later stamp than the second commit's.
  await commit('first', { x: new LWWPair(10, 'w', 1), y: new LWWPair(30, 'w', 1) });
  await commit('second', { x: new LWWPair(20, 'w', 2), y: new LWWPair(20, 'w', 2) });
  const plain = async (key: string) => (await kvs.get(key, { deadline: deadline() }))?.reveal();
  t.same([await plain('x'), await plain('y')], [2, 2], 'the plain keys hold the second commit');
  const now = begin('now');
  t.same([await read(now, 'x'), await read(now, 'y')], [2, 2], 'a reader within retention reads the second commit');
  await epochsPass(timing.retentionMs / timing.epochMs + 1, timing.epochMs);
  const later = begin('later');
  t.same([await read(later, 'x'), await read(later, 'y')], [2, 2], 'so does one past retention, from the plain keys');
});

t.test("a committer whose clock is ahead of the reader's does not fracture its reads", async (t) => {
  const { begin, commit, read } = await setUp(t);
  const ahead = new TxClock(() => Date.now() + 3_000);
  // The first commit of c1 and c2, indexed in an epoch 3 s ahead of the reader's.
  await commit('ahead', { c1: 1, c2: 1 }, ahead);
  const reader = begin('reader');
  const c1 = await read(reader, 'c1');
  // A later commit on the reader's clock, which orders before the one ahead.
  await commit('behind', { c1: 2, c2: 2 });
  t.same([c1, await read(reader, 'c2')], [1, 1], "both keys as the ahead committer's transaction left them");
  const next = begin('next');
  t.same([await read(next, 'c1'), await read(next, 'c2')], [1, 1], 'a new reader sees the newest commit by commit time');
});

t.test('a transaction commits after every version it read, whatever its clock says: a read-modify-write on a clock behind is not lost', async (t) => {
  const { kvs, begin, commit, read, deadline } = await setUp(t);
  await commit('first', { a: 10, b: 10 });
  // A transfer on an executor whose clock is 3 s behind the first committer's.
  const transfer = begin('transfer', new TxClock(() => Date.now() - 3_000));
  const [a, b] = [await read(transfer, 'a'), await read(transfer, 'b')];
  transfer.write('a', LWWPair.now(a! - 1, 'transfer'));
  transfer.write('b', LWWPair.now(b! + 1, 'transfer'));
  await transfer.commit(deadline());
  const audit = begin('audit');
  t.same([await read(audit, 'a'), await read(audit, 'b')], [9, 11], "an atomic reader sees the transfer's writes, not the versions it read");
  const plain = async (key: string) => (await kvs.get(key, { deadline: deadline() }))?.reveal();
  t.same([await plain('a'), await plain('b')], [9, 11], 'and so do the plain keys');
});

t.test('a transaction whose committer died after indexing it and before its plain writes is finished by a reader', async (t) => {
  // No collector: a reader finishes it (while it is younger than half the retention).
  const timing: TxTiming = { epochMs: 100, retentionMs: 4_000, finishAfterMs: 0, commitWindowMs: 1_000 };
  const { nats, kvs, begin, read, deadline } = await setUp(t, timing);
  // The committer's connection dies as it sends the first write of a plain (not reserved) key.
  const plainWrite = (msg: Record<string, unknown>) =>
    msg['t'] === KVS_BATCH && (msg['ops'] as { op: string; key: string }[]).some((op) => op.op === 'put' && !op.key.startsWith(RESERVED_PREFIX));
  const connection = new DyingTransport(await NatsTransport.connect({ servers: nats.url }), plainWrite);
  const committerKvs = new KvsClient(connection, subjectsFor());
  t.teardown(async () => {
    committerKvs.close();
    await connection.close().catch(() => undefined);
  });
  const dying = new Transaction('dying', committerKvs, intentsOn(committerKvs, timing), new MarkedKeys(), timing);
  dying.write('x', LWWPair.now(1, 'dying'));
  dying.write('y', LWWPair.now(1, 'dying'));
  // A short deadline: the client retries a request that fails until then, and the version must stay kept meanwhile.
  await t.rejects(dying.commit(deadlineIn(300)), 'the committer dies while committing');
  t.ok(connection.hasDied, 'at its plain writes');
  const plain = async (key: string) => (await kvs.get(key, { deadline: deadline() }))?.reveal();
  t.same([await plain('x'), await plain('y')], [undefined, undefined], 'no plain key written');

  const reader = begin('reader');
  t.same([await read(reader, 'x'), await read(reader, 'y')], [1, 1], 'atomic readers see it: it is indexed');
  await eventually('the reader wrote the plain keys', async () => (await plain('x')) === 1 && (await plain('y')) === 1, 5_000);
  await epochsPass(timing.retentionMs / timing.epochMs + 1, timing.epochMs);
  const later = begin('later');
  t.same([await read(later, 'x'), await read(later, 'y')], [1, 1], 'past retention its writes are still there, in the plain keys');
});

/** A connection on which KVS batches that put a version copy go out `delayMs` late. */
class SlowCopies extends ForwardingTransport {
  constructor(
    inner: Transport,
    private readonly delayMs: number,
  ) {
    super(inner);
  }

  override async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const msg = decodeMessage(data) as Record<string, unknown>;
    const copies = msg['t'] === KVS_BATCH && (msg['ops'] as { op: string; key: string }[]).some((op) => op.op === 'put' && op.key.startsWith(`${RESERVED_PREFIX}ver/`));
    if (copies) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    return super.request(subject, data, timeoutMs);
  }
}

t.test('a committer that does not reach its index within its commit window commits nothing, and says so', async (t) => {
  const timing: TxTiming = { epochMs: 100, retentionMs: 5_000, commitWindowMs: 200 };
  const { nats, kvs, begin, read, deadline } = await setUp(t, timing);
  const connection = new SlowCopies(await NatsTransport.connect({ servers: nats.url }), 400);
  const committerKvs = new KvsClient(connection, subjectsFor());
  t.teardown(async () => {
    committerKvs.close();
    await connection.close();
  });
  const late = new Transaction('late', committerKvs, intentsOn(committerKvs, timing), new MarkedKeys(), timing);
  late.write('w1', LWWPair.now(1, 'late'));
  late.write('w2', LWWPair.now(1, 'late'));
  await t.rejects(late.commit(deadline()), TransactionConflict, 'its copies took longer than its window: a typed error to call again');
  t.not(await kvs.get(`${RESERVED_PREFIX}ver/late/w1`, { deadline: deadline(), all: true }), undefined, 'its versions were written');
  const reader = begin('reader');
  t.same([await read(reader, 'w1'), await read(reader, 'w2')], [undefined, undefined], 'and never indexed: readers see nothing of it');
});

/** A connection that counts the KVS batches sent on it, and the ops in them. */
class CountedBatches extends ForwardingTransport {
  batches = 0;
  ops = 0;

  override request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const msg = decodeMessage(data) as Record<string, unknown>;
    if (msg['t'] === KVS_BATCH) {
      this.batches++;
      this.ops += (msg['ops'] as unknown[]).length;
    }
    return super.request(subject, data, timeoutMs);
  }
}

t.test("a commit's intent costs one more op: in the first step's batch for two keys, a batch of its own for one", async (t) => {
  const { nats, kvs, deadline } = await setUp(t);
  const connection = new CountedBatches(await NatsTransport.connect({ servers: nats.url }));
  const committerKvs = new KvsClient(connection, subjectsFor());
  t.teardown(async () => {
    committerKvs.close();
    await connection.close();
  });
  const cost = async (id: string, keys: string[]) => {
    const tx = new Transaction(id, committerKvs, intentsOn(committerKvs, TIMING), new MarkedKeys(), TIMING);
    for (const key of keys) tx.write(key, LWWPair.now(1, id));
    const before = { batches: connection.batches, ops: connection.ops };
    await tx.commit(deadline());
    // The done mark goes without being waited for (read here on another connection).
    await eventually('the done mark is stored', async () => (await kvs.get(`${RESERVED_PREFIX}tx/${id}/done`, { deadline: deadline() })) !== undefined);
    return { batches: connection.batches - before.batches, ops: connection.ops - before.ops };
  };
  // Versions (two keys only), marks, record and intent; index entries; plain keys; done mark.
  t.same(await cost('two', ['c1', 'c2']), { batches: 4, ops: 11 }, 'two keys: 4 batches, as before the intent (10 ops then)');
  t.same(await cost('one', ['c3']), { batches: 4, ops: 6 }, 'one key: the intent, then index entry with mark and record, then the key, then the done mark (3 batches and 5 ops before)');
});

t.test('a reader slower than retention never reads a key its floor transaction wrote as absent', async (t) => {
  // Kept for 500 ms, deleted once the collector has dealt with the commit (past its 1 s commit window): the reader outlives the versions it needs.
  const timing: TxTiming = { epochMs: 100, retentionMs: 500, commitWindowMs: 1_000 };
  const { kvs, begin, commit, read, deadline } = await setUp(t, timing, true);
  const gone = (tx: string, key: string) => async () => (await kvs.get(`${RESERVED_PREFIX}ver/${tx}/${key}`, { deadline: deadline(), all: true })) === undefined;

  await commit('both', { a: 1, b: 1 });
  const slow = begin('slow');
  t.equal(await read(slow, 'a'), 1, 'a as "both" left it: "both" is the floor of b');
  await eventually("both's version copies are deleted after retention", gone('both', 'b'), 5_000);
  await epochsPass(timing.retentionMs / timing.epochMs + 1, timing.epochMs);
  t.equal(await read(slow, 'b'), 1, "b as \"both\" left it: the plain key still holds that version (stamped by its commit)");

  await commit('pair', { c: 1, d: 1 });
  const slower = begin('slower');
  t.equal(await read(slower, 'c'), 1);
  await eventually("pair's version copies are deleted after retention", gone('pair', 'd'), 5_000);
  // A later commit wrote c and d: it would fracture the read of c, and the plain d no longer holds pair's version.
  await commit('over', { c: 2, d: 2 });
  await t.rejects(read(slower, 'd'), TransactionConflict, 'the version to read is gone: a typed error to call again, not absent');
  const again = begin('again');
  t.same([await read(again, 'c'), await read(again, 'd')], [2, 2], 'a new transaction reads both keys');
});

t.test('a reader that read a key from its plain value never reads a key written together with it since as absent', async (t) => {
  const timing: TxTiming = { epochMs: 100, retentionMs: 500, commitWindowMs: 1_000 };
  const { begin, commit, read } = await setUp(t, timing);
  await commit('old', { a: 1, b: 1 });
  await epochsPass(timing.retentionMs / timing.epochMs + 1, timing.epochMs);
  const reader = begin('reader');
  t.equal(await read(reader, 'a'), 1, 'a from its plain value: no version of it is kept');
  // Every kept version of b (only this one) would fracture that read, and b held a value before it.
  await commit('new', { a: 2, b: 2 });
  await t.rejects(read(reader, 'b'), TransactionConflict, 'no version of b fits: a typed error to call again, not absent');
  const again = begin('again');
  t.same([await read(again, 'a'), await read(again, 'b')], [2, 2], 'a new transaction reads both keys');
});

t.test('a key its executor has seen marked is never read as absent when the KVS answers without its mark', async (t) => {
  const { kvs, begin, commit, read, deadline } = await setUp(t);
  await commit('w', { m: 5, n: 5 });
  t.equal(await read(begin('first'), 'm'), 5, 'read once: this executor has seen m marked');
  // What a shard answers for keys it does not hold (new to them in a ring
  // change whose previous replicas do not answer, or on the minority side of
  // a partition): nothing, for the mark and for the plain key. A mark is never
  // removed, so that answer is the KVS not serving the key, not a key no
  // transaction wrote.
  await kvs.delete(`${RESERVED_PREFIX}idx/m/latest`, deadline());
  await kvs.delete('m', deadline());
  await t.rejects(read(begin('later'), 'm'), TransactionConflict, 'a typed error to call again, not absent');
});
