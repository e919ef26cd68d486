// Shards as real processes with durable data: a shard killed with SIGKILL in
// the middle of a load loses no acknowledged write and the survivors restore
// the replication factor; a whole cluster killed and started again from its
// data directories has every acknowledged write.

import { join } from 'node:path';
import t, { type Test } from 'tap';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import { SetLattice } from '../lib/lattice/index.js';
import { subjectsFor } from '../lib/subjects.js';
import type { CliProcess } from './fixtures/cli.js';
import { dataRoot, shardProcess as shardCli } from './fixtures/shard_process.js';
import { eventually } from './fixtures/eventually.js';
import { startNats } from './fixtures/nats.js';
import { getFromShard } from './fixtures/shard_get.js';

/** A shard process keeping its data under `root`; resolves once it has joined. */
async function shardProcess(t: Test, natsUrl: string, id: string, root: string): Promise<CliProcess> {
  const p = shardCli(t, natsUrl, id, ['--data-dir', join(root, id)]);
  await p.waitFor(/ready on/);
  return p;
}

/** Each key as `shardId` alone holds it (asked directly, not through the ring, and not from the replicas it had before a hand-off). */
async function heldBy(transport: NatsTransport, shardId: string, keys: string[]): Promise<(string[] | undefined)[]> {
  const values = await getFromShard(transport, subjectsFor().kvsShard(shardId), keys, { local: true });
  return values.map((v) => (v ? [...(v.reveal() as ReadonlySet<string>)].sort() : undefined));
}

t.test('kill -9 of a shard mid-load: every acknowledged write stays readable, replication is restored', async (t) => {
  const nats = await startNats(t);
  const root = await dataRoot(t);
  const shards = ['kvs-a', 'kvs-b', 'kvs-c'];
  const procs = await Promise.all(shards.map((id) => shardProcess(t, nats.url, id, root)));
  const client = await Cloudburst.connect({ servers: nats.url, timeoutMs: 15_000 });
  t.teardown(() => client.close());

  const acked = new Map<string, string>();
  let n = 0;
  let killed = false;
  const writer = async (): Promise<void> => {
    while (n < 1500) {
      const i = n++;
      if (i === 500 && !killed) {
        killed = true;
        procs[2]!.child.kill('SIGKILL');
      }
      await client.put(`k${i}`, new SetLattice([`v${i}`]));
      acked.set(`k${i}`, `v${i}`);
    }
  };
  await Promise.all([writer(), writer(), writer(), writer()]);
  t.equal(acked.size, 1500, 'every write was acknowledged, before and after the kill');

  for (const [key, value] of acked) {
    const got = await client.get<ReadonlySet<string>>(key);
    if (!got?.has(value)) t.fail(`${key} lost`);
  }
  t.pass('every acknowledged write is readable');

  // Two survivors and two replicas a key: each survivor must hold every key.
  const transport = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => transport.close());
  const keys = [...acked.keys()];
  for (const survivor of shards.slice(0, 2)) {
    await eventually(`${survivor} holds a replica of every key`, async () => {
      const held = await heldBy(transport, survivor, keys).catch(() => []);
      return keys.every((k, i) => held[i]?.includes(acked.get(k)!));
    });
    t.pass(`${survivor} holds a replica of every key`);
  }
});

t.test('crash the whole cluster (SIGKILL) and start it again from its data directories: every acknowledged write is there', async (t) => {
  const nats = await startNats(t);
  const root = await dataRoot(t);
  const shards = ['kvs-a', 'kvs-b', 'kvs-c'];
  let procs = await Promise.all(shards.map((id) => shardProcess(t, nats.url, id, root)));
  const writer = await Cloudburst.connect({ servers: nats.url, timeoutMs: 15_000 });
  await Promise.all(Array.from({ length: 400 }, (_, i) => writer.put(`d${i}`, `value ${i}`)));
  await writer.close();

  for (const p of procs) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited()));
  procs = await Promise.all(shards.map((id) => shardProcess(t, nats.url, id, root)));

  const reader = await Cloudburst.connect({ servers: nats.url, timeoutMs: 15_000 });
  t.teardown(() => reader.close());
  const values = await Promise.all(Array.from({ length: 400 }, (_, i) => reader.get(`d${i}`)));
  t.same(values, Array.from({ length: 400 }, (_, i) => `value ${i}`));
});
