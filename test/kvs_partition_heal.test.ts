// A shard cut off by a partition keeps running: the shards on the other side
// take it for gone and acknowledge writes without it. When the partition
// heals it is a replica of those keys again, and clients read from it: it
// must not answer from what it held before the cut. Under the fault harness
// functions read their own writes as absent, or as the delta alone, this
// way. The shard catches up (as a shard back from a pause does) once it
// hears a majority of the shards it knows again.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { request } from '../lib/actor/rpc.js';
import { KvsClient } from '../lib/client/kvs_client.js';
import { deadlineIn } from '../lib/deadline.js';
import { KVS_BATCH, type KvsResult } from '../lib/kvs/protocol.js';
import { SetLattice } from '../lib/lattice/index.js';
import { subjectsFor } from '../lib/subjects.js';
import { NatsCluster } from '../verify/partition.js';
import { startShard } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';

t.test('a shard back from a partition answers no read from what it held before the cut, until it has caught up', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cb-heal-'));
  const nats = await NatsCluster.start(3, dir);
  t.teardown(async () => {
    await nats.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const url = (i: number): string => nats.servers[i]!.url;
  // Gossip slowed to a crawl: what the others hand to the returning shard does not reach it by gossip during the test.
  const shard = (i: number, id: string) => startShard(url(i), { id, heartbeatMs: 200, gossipMs: 60_000, handoffTimeoutMs: 1_000 });
  const a = await shard(0, 'kvs-a');
  const b = await shard(1, 'kvs-b');
  const s = await shard(2, 'kvs-s');
  t.teardown(async () => {
    nats.healAll();
    for (const n of [s, b, a]) await n.stop().catch(() => undefined);
  });
  const transport = await NatsTransport.connect({ servers: url(0) });
  t.teardown(() => transport.close());
  const client = new KvsClient(transport, subjectsFor(), { memberTimeoutMs: 600, timeoutMs: 10_000 });
  t.teardown(() => client.close());
  await eventually('every shard sees three', () => [a, b, s].every((n) => n.ringMembers().filter((m) => m.state === 'active').length === 3));
  await eventually('the client sees three shards', () => client.ringMembers().length === 3);

  let key = '';
  for (let i = 0; !key; i++) if (s.holds(`heal-${i}`)) key = `heal-${i}`;
  await client.put(key, new SetLattice(['before']));
  await eventually('s holds the first write', () => s.localValue(key) !== undefined);

  nats.isolate(2, true);
  await eventually('s takes both others for gone', () => s.ringMembers().length === 1, 10_000);
  await eventually('the client takes s for gone', () => client.ringMembers().length === 2, 10_000);
  await client.put(key, new SetLattice(['during']));

  // Reads sent to s from the other side once it is back, until it answers one.
  const answers: string[] = [];
  nats.isolate(2, false);
  await eventually(
    's answers a read that holds the write made during the cut',
    async () => {
      const body = (await request(transport, subjectsFor().kvsShard('kvs-s'), KVS_BATCH, { ops: [{ op: 'get', key }] }, deadlineIn(2_000)).catch((err: unknown) => ({
        results: [{ error: { code: String((err as { code?: string }).code) } }],
      }))) as { results: KvsResult[] };
      const r = body.results[0]!;
      const answer = r.value ? JSON.stringify([...(r.value.reveal() as Set<string>)].sort()) : r.error ? `error ${r.error.code}` : 'absent';
      if (answers.at(-1) !== answer) answers.push(answer);
      return answer.includes('during');
    },
    15_000,
  );
  t.notOk(
    answers.some((x) => x === '["before"]' || x === 'absent'),
    `no answer from before the cut on the way (answers: ${answers.join(', ')})`,
  );
});
