#!/usr/bin/env node
// `node dist/examples/travel/main.js`: puts a few flights and hotels on
// sale, has many bookers reserve a seat and a room at once (more bookings
// than seats), then reads everything back and checks that nothing was
// overbooked, that seats sold match the reservations, and that every
// reservation was charged exactly once. Exits 1 when a check fails.
// `--isolation atomic` runs the same load without locks, to see it fail.

import { exampleCli, say, wholeNumbers, withCluster } from '../example_cli.js';
import { describeReport, TravelLoad } from './load.js';
import { Travel } from './travel.js';

const args = await exampleCli('travel', 'Travel reservations: serializable, exactly-once bookings of a flight and a hotel against limited inventory.')
  .option('flights', { type: 'number', default: 3, describe: 'flights on sale' })
  .option('hotels', { type: 'number', default: 3, describe: 'hotels on sale' })
  .option('seats', { type: 'number', default: 20, describe: 'seats on each flight' })
  .option('rooms', { type: 'number', default: 25, describe: 'rooms in each hotel' })
  .option('users', { type: 'number', default: 20, describe: 'users the bookings are for' })
  .option('bookings', { type: 'number', default: 150, describe: 'bookings to make' })
  .option('bookers', { type: 'number', default: 12, describe: 'bookers running at once' })
  .option('isolation', { choices: ['serializable', 'atomic'] as const, default: 'serializable' as const, describe: 'atomic: the same calls without locks (the control)' })
  .option('timeout-ms', { type: 'number', default: 20_000, describe: 'deadline of each try of a reservation' })
  .option('seed', { type: 'number', default: 1, describe: 'seeds the choice of users, flights and hotels' })
  .check(wholeNumbers({ flights: 1, hotels: 1, seats: 0, rooms: 0, users: 1, bookings: 0, bookers: 1, 'timeout-ms': 1, seed: 0 }))
  .parseAsync();

await withCluster(args, async (client) => {
  await Travel.register(client);
  const travel = new Travel(client, { isolation: args.isolation, timeoutMs: args['timeout-ms'] });
  say(
    `${args.flights} flights of ${args.seats} seats, ${args.hotels} hotels of ${args.rooms} rooms; ` +
      `${args.bookings} bookings for ${args.users} users, ${args.bookers} at once, ${args.isolation}`,
  );
  const report = await new TravelLoad(travel, {
    flights: args.flights,
    hotels: args.hotels,
    seats: args.seats,
    rooms: args.rooms,
    users: args.users,
    bookings: args.bookings,
    bookers: args.bookers,
    seed: args.seed,
    say,
  }).run();
  report.stats.print(say);
  describeReport(report, travel, say);
  if (report.check.violations.length > 0) process.exitCode = 1;
});
