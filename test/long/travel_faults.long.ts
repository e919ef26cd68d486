// Long: not in `npm test` (minutes per case on 2 cores, and the
// shard-restart case has failed once, unexplained: examples/travel/README.md).
// Run it with `npm run build && npx tap --disable-coverage dist/test/long/travel_faults.long.js`.
//
// The travel example (examples/travel) under SIGKILL: an executor killed a
// fifth of the way through a load of bookings, then the KVS shard that is
// primary of the first flight's lock record (replication 2, three shards),
// either restarted from its data by the supervisor or gone for good (the
// ring changes and another shard decides its locks). Bookers retry failed
// calls under the same request id (exactly-once, serializable): every
// booking is answered, nothing is overbooked, seats sold == reservations,
// and every reservation is charged exactly once.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LocalCluster, memoryCluster } from '../../bin/local_cluster.js';
import { Cloudburst } from '../../lib/client/cloudburst.js';
import { HashRing } from '../../lib/kvs/hash_ring.js';
import { lockKey } from '../../lib/kvs/locks.js';
import { roomsKey, seatsKey } from '../../examples/travel/functions.js';
import { TravelLoad } from '../../examples/travel/load.js';
import { Travel } from '../../examples/travel/travel.js';
import { eventually } from '../fixtures/eventually.js';
import { startNats } from '../fixtures/nats.js';
import { LOAD } from '../fixtures/travel_load.js';
import { startVictimCluster } from '../fixtures/victim_cluster.js';
import type { Member } from '../../lib/membership.js';

// Processes for every node, durable shards, and kills: on a shared 2-core
// machine under load a subtest has taken from about a minute to over four
// (bookings at 1 to 3 a second while other clusters run). Past tap's
// default per-file bound, so this file sets its own.
t.setTimeout(900_000);

for (const shardReturns of [true, false]) {
  const how = shardReturns ? 'restarted from its data by the supervisor' : 'gone for good';
  const run = shardReturns ? 'faultsR' : 'faultsG';
  t.test(`an executor and a KVS shard (${how}) killed with SIGKILL mid-load, replication 2: retried under the same ids, never overbooked, each charged once`, async (t) => {
    const nats = await startNats(t);
    const data = await mkdtemp(join(tmpdir(), 'cb-travel-'));
    t.teardown(() => rm(data, { recursive: true, force: true }));
    const progress: string[] = [];
    const cluster = await LocalCluster.start(
      memoryCluster({
        nats: nats.url,
        kvs: 3,
        executors: 2,
        threads: 3,
        heartbeatMs: 200,
        shards: { durability: 'group', dataDir: data, replication: 2, gossipMs: 20 },
        onProgress: (line) => progress.push(line),
      }),
    );
    t.teardown(() => cluster.stop());
    const client = await Cloudburst.connect({ servers: nats.url, timeoutMs: 15_000 });
    t.teardown(() => client.close());
    await Travel.register(client);
    // Many tries: a booking must end answered, not given up, for the checks to be exact.
    const travel = new Travel(client, { timeoutMs: 15_000, attempts: 100 });
    // 60 seats for 80 bookings: the kills come while seats are still being sold.
    const load = new TravelLoad(travel, { ...LOAD, seats: 20, rooms: 24, bookings: 80, seed: 7, run });
    // The shard to kill: the primary of the first flight's lock record (it decides that lock, docs/kvs.md).
    const shardIds = ['kvs-0', 'kvs-1', 'kvs-2'];
    const ring = new HashRing(shardIds);
    const victimShard = ring.replicas(lockKey(seatsKey(`${run}-f0`)), 2)[0]!;
    const hot = [0, 1, 2].flatMap((i) => [seatsKey(`${run}-f${i}`), roomsKey(`${run}-h${i}`)]);
    const primaryOf = hot.filter((k) => ring.replicas(lockKey(k), 2)[0] === victimShard).length;
    const running = load.run();

    await eventually('a fifth of the bookings are answered', () => load.completed >= 16, 180_000);
    const inFlightAtExecutorKill = load.inFlight;
    cluster.executors[0]!.process.kill('SIGKILL');
    await eventually('more bookings answered after the executor died', () => load.completed >= 32, 180_000);
    const inFlightAtShardKill = load.inFlight;
    const shard = cluster.nodes.find((n) => n.id === victimShard)!;
    // Retired: the supervisor does not start it again (as for an executor stopped on purpose).
    if (!shardReturns) shard.retired = true;
    shard.process.kill('SIGKILL');
    const report = await running;
    t.comment(`killed shard ${victimShard}: primary of ${primaryOf} of the 6 seat and room locks`);
    t.comment(progress.filter((l) => /exited|restart/.test(l)).join('; '));
    t.comment(
      `${report.booked} booked, ${report.refused} refused, ${report.failed} given up; ` +
        `tried again: ${travel.aborts} after TransactionAborted, ${travel.retries} after other errors; in flight at the kills: ${inFlightAtExecutorKill}, ${inFlightAtShardKill}`,
    );
    t.ok(inFlightAtExecutorKill > 0 && inFlightAtShardKill > 0, 'bookings were in flight at both kills');
    t.same(report.check.violations, [], 'no invariant broken: never overbooked, sold == reservations, each charged once');
    t.equal(report.failed, 0, 'every booking was answered');
    t.ok(report.booked >= 40, `most seats were sold (${report.check.sold.seats} of ${report.check.capacity.seats})`);
    t.equal(report.booked, report.check.recorded);
    t.equal(report.check.charges, report.booked);
  });
}

// The executor killed in the middle of a reservation's commit, at a known
// point (actors/executor/test_hooks.ts): after its versions are written but
// before they are indexed (the try was decided to commit: the re-run on the
// survivor commits it), or after indexing and before the plain keys (the
// collector finishes it). Either way the reservation is made once.
for (const point of ['versions', 'indexed'] as const) {
  t.test(`the executor killed with a reservation's commit stopped after its ${point}: made once, never overbooked`, async (t) => {
    const { client, victim, startSurvivor } = await startVictimCluster(t, { victimEnv: { CB_TEST_STOP_COMMIT: point } });
    await startSurvivor();
    await eventually('the router knows both executors', async () => {
      const { members } = (await client.status()) as { members: Member[] };
      return members.filter((m) => m.kind === 'executor').length === 2;
    });
    await Travel.register(client);
    const travel = new Travel(client, { timeoutMs: 15_000, attempts: 100 });
    const load = new TravelLoad(travel, { ...LOAD, bookings: 50, bookers: 8, seed: 11, run: `stop-${point}` });
    const running = load.run();
    await victim.waitFor(/CB_TEST_STOP_COMMIT: transaction \S+ stopped/);
    const stoppedAtKill = victim.lines.filter((l) => l.includes('CB_TEST_STOP_COMMIT')).length;
    victim.child.kill('SIGKILL');
    const report = await running;
    t.comment(`${stoppedAtKill} commit(s) stopped on the victim; ${report.booked} booked, ${report.refused} refused; tried again: ${travel.aborts} after TransactionAborted, ${travel.retries} after other errors`);
    t.same(report.check.violations, [], 'no invariant broken');
    t.equal(report.failed, 0, 'every booking was answered');
    t.equal(report.booked, report.check.recorded);
  });
}
