// What an executor killed with SIGKILL leaves behind is recovered by the
// others, through what it wrote to the KVS, not its memory: a commit it
// left half done is finished (rolled forward) or left unseen (rolled back)
// by the collector, with no reader needed, and the keys it would have
// deleted later are deleted by another executor's sweep when they are due.
// Every executor here runs on short timings (CB_TEST_TIMING) so that what
// is due in minutes is due within the test; the victim is stopped at a
// known step of its commit (CB_TEST_STOP_COMMIT) and killed there.

import t, { type Test } from 'tap';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { KvsClient } from '../lib/client/kvs_client.js';
import type { Cb } from '../lib/function_api.js';
import { RESERVED_PREFIX } from '../lib/reserved_keys.js';
import { subjectsFor } from '../lib/subjects.js';
import { eventually } from './fixtures/eventually.js';
import { startVictimCluster, type VictimCluster } from './fixtures/victim_cluster.js';

const RETENTION_MS = 5_000;
const EPOCH_MS = 100;
// Read by every executor of these tests, the victim's process and the survivor in this one.
process.env['CB_TEST_TIMING'] = JSON.stringify({
  epochMs: EPOCH_MS,
  retentionMs: RETENTION_MS,
  logRetentionMs: RETENTION_MS,
  commitWindowMs: 1_000,
  collectMarginMs: 1_000,
  intentBucketMs: 200,
  deleteBucketMs: 200,
  deleteGraceMs: 1_000,
  sweepEveryMs: 100,
});

const versionKey = (tx: string, key: string) => `${RESERVED_PREFIX}ver/${tx}/${key}`;
const commitKey = (tx: string) => `${RESERVED_PREFIX}tx/${tx}`;
const doneKey = (tx: string) => `${RESERVED_PREFIX}tx/${tx}/done`;
const indexKey = (key: string, epoch: number) => `${RESERVED_PREFIX}idx/${key}/${epoch}`;
const logKey = (requestId: string) => `${RESERVED_PREFIX}log/${requestId}`;

/** Writes `value` to each of `keys`, on the victim only: the router's re-run of the call elsewhere (its executor died) writes nothing. */
const writeOnVictim = async (cb: Cb, keys: string[], value: number): Promise<string> => {
  if (cb.id.startsWith('exec-victim.')) for (const key of keys) await cb.put(key, value);
  return cb.id;
};

/** A cluster whose victim runs `writeOnVictim`, and a KVS client that reads what users cannot (reserved keys, on every replica). */
async function setUp(t: Test, victimEnv: NodeJS.ProcessEnv = {}) {
  const cluster = await startVictimCluster(t, { victimEnv });
  const transport = await NatsTransport.connect({ servers: cluster.natsUrl });
  const kvs = new KvsClient(transport, subjectsFor());
  t.teardown(async () => {
    kvs.close();
    await transport.close();
  });
  await cluster.client.register('writeOnVictim', writeOnVictim);
  const stored = async (key: string) => (await kvs.get(key, { all: true }))?.reveal();
  /** Everything `keys` name is gone from every replica. */
  const gone = (keys: string[]) => async () => (await Promise.all(keys.map(stored))).every((v) => v === undefined);
  /** The commit time (µs) the transaction's record holds, and so the epoch of its index entries. */
  const epochOf = async (tx: string) => Math.floor(((await stored(commitKey(tx))) as { ts: number }).ts / (EPOCH_MS * 1000));
  return { ...cluster, kvs, stored, gone, epochOf };
}

/** The ids of the transactions the victim said it stopped, once there are `count`. */
async function stopped({ victim }: VictimCluster, count: number): Promise<string[]> {
  const ids = () => victim.lines.flatMap((line) => /CB_TEST_STOP_COMMIT: transaction (\S+) stopped/.exec(line)?.[1] ?? []);
  await eventually(`the victim stopped ${count} commits`, () => ids().length >= count, 15_000);
  return ids();
}

t.test('commits whose executor was killed after indexing them and before their plain writes are finished by the collector, with no reader', async (t) => {
  const c = await setUp(t, { CB_TEST_STOP_COMMIT: 'indexed' });
  const pair = c.client.call('writeOnVictim', [['x', 'y'], 1], { atomic: true }).catch(() => undefined);
  const [first] = await stopped(c, 1);
  const single = c.client.call('writeOnVictim', [['z'], 2], { atomic: true }).catch(() => undefined);
  const txs = await stopped(c, 2);
  const epochs = { x: await c.epochOf(first!), z: await c.epochOf(txs[1]!) };
  t.same([await c.client.get('x'), await c.client.get('y'), await c.client.get('z')], [undefined, undefined, undefined], 'no plain key written yet');
  c.victim.child.kill('SIGKILL');
  await c.startSurvivor();
  const plain = async () => [await c.client.get('x'), await c.client.get('y'), await c.client.get('z')];
  await eventually('the plain keys hold both commits', async () => JSON.stringify(await plain()) === '[1,1,2]', 20_000);
  t.same(await plain(), [1, 1, 2], "the plain keys hold both commits' writes, though no atomic reader read either");
  await Promise.all([pair, single]);
  const garbage = [
    ...['x', 'y'].map((k) => versionKey(first!, k)),
    ...txs.flatMap((tx) => [commitKey(tx), doneKey(tx)]),
    indexKey('x', epochs.x),
    indexKey('y', epochs.x),
    indexKey('z', epochs.z),
  ];
  await eventually("the finished commits' versions, records and index epochs are deleted after retention", c.gone(garbage), 30_000);
  t.pass('deleted');
});

t.test('keys an executor killed with their deletion pending are deleted by another executor when they are due', async (t) => {
  const c = await setUp(t);
  const start = Date.now();
  // Exactly-once and atomic: the transaction is named by the request id, and the call leaves an effect log.
  t.equal(typeof (await c.client.call('writeOnVictim', [['a', 'b'], 3], { atomic: true, exactlyOnce: true, requestId: 'req-kept', timeoutMs: 5_000 })), 'string');
  const kept = [versionKey('req-kept', 'a'), versionKey('req-kept', 'b'), commitKey('req-kept'), logKey('req-kept')];
  const epoch = await c.epochOf('req-kept');
  const index = [indexKey('a', epoch), indexKey('b', epoch)];
  for (const key of [...kept, ...index]) t.not(await c.stored(key), undefined, `${key} is there when its executor dies`);
  c.victim.child.kill('SIGKILL');
  await c.startSurvivor();
  // When each was first seen gone (the done mark, set without waiting, is not timed: it may never have been there).
  const goneAt = new Map<string, number>();
  await eventually(
    'the survivor deleted them',
    async () => {
      for (const key of [...kept, ...index, doneKey('req-kept')]) if (!goneAt.has(key) && (await c.stored(key)) === undefined) goneAt.set(key, Date.now());
      return goneAt.size === kept.length + index.length + 1;
    },
    40_000,
  );
  const early = [...kept, ...index].filter((key) => goneAt.get(key)! - start < RETENTION_MS);
  t.same(early, [], 'none before its retention');
  t.same([await c.client.get('a'), await c.client.get('b')], [3, 3], 'the plain keys keep the writes');
});

t.test('a commit whose executor was killed before indexing it is never seen, and its versions are deleted (rolled back)', async (t) => {
  const c = await setUp(t, { CB_TEST_STOP_COMMIT: 'versions' });
  const call = c.client.call('writeOnVictim', [['p', 'q'], 4], { atomic: true }).catch(() => undefined);
  const [tx] = await stopped(c, 1);
  const epoch = await c.epochOf(tx!);
  const written = [versionKey(tx!, 'p'), versionKey(tx!, 'q'), commitKey(tx!)];
  for (const key of written) t.not(await c.stored(key), undefined, `${key} is written when its executor dies`);
  c.victim.child.kill('SIGKILL');
  await c.startSurvivor();
  await eventually('its versions and record are deleted', c.gone(written), 30_000);
  const index = async (key: string) => (await c.stored(indexKey(key, epoch))) as Map<string, unknown> | undefined;
  t.notOk((await index('p'))?.has(tx!) || (await index('q'))?.has(tx!), 'never indexed: no reader can see it');
  await c.client.register('readBoth', async (cb: Cb) => [await cb.get('p'), await cb.get('q')]);
  t.same(await c.client.call('readBoth', [], { atomic: true }), [null, null], 'an atomic reader reads both keys as never written');
  t.same([await c.client.get('p'), await c.client.get('q')], [undefined, undefined], 'and the plain keys hold nothing');
  await call;
});
