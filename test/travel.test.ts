// The travel example (examples/travel): a reservation is one serializable,
// exactly-once call taking a seat and a room and charging the user. Many
// bookers at once through two executors against fewer seats than bookings:
// never overbooked, seats sold == reservations, every reservation charged
// once. The same load as read-atomic calls without locks breaks those
// checks (so the checker can fail). The same under SIGKILL of an executor
// and a shard: test/long/travel_faults.long.ts.

import t from 'tap';
import { ExecutionError, InvalidArgument } from '../lib/errors.js';
import { Travel } from '../examples/travel/travel.js';
import { TravelLoad } from '../examples/travel/load.js';
import { LOAD } from './fixtures/travel_load.js';
import { startCluster } from './fixtures/cluster.js';
import { runExampleScript } from './fixtures/example_script.js';

t.test('a reservation takes a seat and a room and charges once; sold out refuses with no effect', async (t) => {
  const { client } = await startCluster(t);
  await Travel.register(client);
  const travel = new Travel(client);
  await travel.stock({ flights: { f1: { seats: 1, fare: 100 }, f0: { seats: 0, fare: 100 } }, hotels: { h1: { rooms: 2, rate: 40 }, h0: { rooms: 0, rate: 40 } } });
  t.same(await travel.reserve('r1', 'ann', 'f1', 'h1'), { ok: true, reservation: 'r1', charged: 140 });
  t.same(await travel.reserve('r1', 'ann', 'f1', 'h1'), { ok: true, reservation: 'r1', charged: 140 }, 'the same id again: the first answer');
  t.same(await travel.reserve('r2', 'bob', 'f1', 'h1'), { ok: false, reason: 'flight sold out' });
  t.same(await travel.reserve('r3', 'bob', 'f0', 'h1'), { ok: false, reason: 'flight sold out' });
  t.same(await travel.reserve('r4', 'bob', 'f1', 'h0'), { ok: false, reason: 'flight sold out' });
  await travel.stock({ flights: { f2: { seats: 5, fare: 10 } }, hotels: {} });
  t.same(await travel.reserve('r5', 'bob', 'f2', 'h0'), { ok: false, reason: 'hotel sold out' });
  t.same(
    await travel.audit(['f0', 'f1', 'f2'], ['h0', 'h1'], ['ann', 'bob']),
    {
      flights: { f0: 0, f1: 0, f2: 5 },
      hotels: { h0: 0, h1: 1 },
      reservations: { ann: [{ id: 'r1', flight: 'f1', hotel: 'h1' }], bob: [] },
      charges: { ann: [{ reservation: 'r1', amount: 140 }], bob: [] },
    },
    'r1 took one seat and one room and was charged once; the refusals changed nothing (f2 kept its seats)',
  );
  t.same(await travel.search(['f1', 'f2', 'nope'], ['h1']), { flights: { f1: 0, f2: 5 }, hotels: { h1: 1 } });
  await t.rejects(travel.reserve('r6', 'ann', 'nope', 'h1'), ExecutionError, 'no such flight');
  await t.rejects(travel.stock({ flights: { f1: { seats: 3, fare: 1 } }, hotels: {} }), { message: /already on sale/ });
  t.throws(() => travel.reserve('r 7', 'ann', 'f1', 'h1'), InvalidArgument);
});

t.test('concurrent bookings through two executors: never overbooked, each charged once; atomic without locks breaks the checks', async (t) => {
  const { client, executors } = await startCluster(t, { executors: 2, threads: 4, timeoutMs: 30_000 });
  t.equal(executors.length, 2);
  await Travel.register(client);

  const travel = new Travel(client, { timeoutMs: 30_000 });
  const ser = await new TravelLoad(travel, { ...LOAD, seed: 1 }).run();
  t.comment(`serializable: ${ser.booked} booked, ${ser.refused} refused, ${ser.failed} given up, ${travel.aborts} aborts retried; ${ser.stats.summaries().map((s) => `p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms`)[0]}`);
  t.same(ser.check.violations, [], 'no invariant broken');
  t.equal(ser.failed, 0, 'every booking was answered');
  t.equal(ser.check.sold.seats, ser.check.capacity.seats, `every seat was sold (${ser.check.capacity.seats}): bookings outnumber them`);
  t.equal(ser.booked, ser.check.recorded, 'one recorded reservation per booking answered ok');
  t.equal(ser.check.charges, ser.booked, 'and one charge each');
  t.equal(ser.booked + ser.refused, LOAD.bookings);

  const control = new Travel(client, { isolation: 'atomic', timeoutMs: 30_000 });
  const atomic = await new TravelLoad(control, { ...LOAD, seed: 1 }).run();
  t.comment(`atomic: ${atomic.booked} booked, ${atomic.refused} refused, sold ${atomic.check.sold.seats} of ${atomic.check.capacity.seats} seats, ${atomic.check.recorded} recorded`);
  for (const v of atomic.check.violations.slice(0, 5)) t.comment(`  ${v}`);
  t.ok(atomic.check.violations.length > 0, `under atomic alone the checker finds broken invariants (${atomic.check.violations.length})`);
  t.ok(
    atomic.check.violations.some((v) => /overbooked|sold but|not recorded/.test(v)),
    'overbooking or lost decrements or lost reservations among them',
  );
});

t.test('the travel script runs and checks from the command line', async (t) => {
  const { nats } = await startCluster(t, { executors: 2 });
  const { code, stdout } = await runExampleScript('travel', ['--nats', nats.url, '--flights', '2', '--seats', '5', '--bookings', '30', '--bookers', '6'], 120_000);
  t.equal(code, 0, stdout);
  t.match(stdout, /^reserve: 30 ops, [\d.]+ ops\/s, p50 [\d.]+ ms, p99 [\d.]+ ms$/m);
  t.match(stdout, /^seats sold: 10 of 10; /m);
  t.match(stdout, /^invariants broken: 0$/m);
});
