// The travel agency under load: many bookers at once reserve a random
// flight and hotel for a random user, against fewer seats and rooms than
// bookings, so the last seats are fought over and the rest are refused.
// Afterwards one serializable read of everything feeds the checks
// (checks.ts): never overbooked, sold == reservations, every reservation
// charged exactly once.

import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { Say } from '../example_cli.js';
import { OpStats } from '../op_stats.js';
import { checkTravel, type Booking, type TravelCheck } from './checks.js';
import type { Stock, Travel, TravelState } from './travel.js';

export interface TravelLoadOptions {
  flights: number;
  hotels: number;
  /** Seats on each flight. */
  seats: number;
  /** Rooms in each hotel. */
  rooms: number;
  users: number;
  bookings: number;
  /** Bookers running at once. */
  bookers: number;
  seed: number;
  /** Names this run's flights, hotels, users and reservations (default: a new one), so runs on one cluster do not meet. */
  run?: string;
  say?: Say;
}

export interface TravelLoadReport {
  run: string;
  stock: Stock;
  bookings: Booking[];
  booked: number;
  refused: number;
  /** Bookings given up on after every try failed. */
  failed: number;
  state: TravelState;
  check: TravelCheck;
  stats: OpStats;
}

export class TravelLoad {
  /** Bookings answered (or given up on) so far. */
  completed = 0;
  /** Bookings started and not yet answered. */
  inFlight = 0;

  constructor(
    private readonly travel: Travel,
    private readonly opts: TravelLoadOptions,
  ) {}

  async run(): Promise<TravelLoadReport> {
    const { opts, travel } = this;
    const run = opts.run ?? randomUUID().slice(0, 8);
    const flights = Array.from({ length: opts.flights }, (_, i) => `${run}-f${i}`);
    const hotels = Array.from({ length: opts.hotels }, (_, i) => `${run}-h${i}`);
    const users = Array.from({ length: opts.users }, (_, i) => `${run}-u${i}`);
    const stock: Stock = {
      flights: Object.fromEntries(flights.map((f, i) => [f, { seats: opts.seats, fare: 100 + 10 * i }])),
      hotels: Object.fromEntries(hotels.map((h, i) => [h, { rooms: opts.rooms, rate: 50 + 5 * i }])),
    };
    await travel.stock(stock);

    const rng = xoroshiro128plus(opts.seed);
    const pick = (of: string[]): string => of[uniformInt(rng, 0, of.length - 1)]!;
    const bookings: Booking[] = Array.from({ length: opts.bookings }, (_, i) => ({
      id: `${run}-r${i}`,
      user: pick(users),
      flight: pick(flights),
      hotel: pick(hotels),
      outcome: { failed: 'not run' },
    }));
    const stats = new OpStats();
    const bookOne = async (b: Booking): Promise<void> => {
      this.inFlight++;
      try {
        b.outcome = await stats.time('reserve', () => travel.reserve(b.id, b.user, b.flight, b.hotel));
      } catch (err) {
        b.outcome = { failed: (err as { code?: string }).code ?? String(err) };
      } finally {
        this.inFlight--;
        this.completed++;
      }
    };
    const stopProgress = opts.say ? stats.reportProgress(opts.say) : () => {};
    try {
      const limit = pLimit(opts.bookers);
      await Promise.all(bookings.map((b) => limit(() => bookOne(b))));
    } finally {
      stopProgress();
    }
    const state = await travel.audit(flights, hotels, users);
    const count = (ok: (b: Booking) => boolean) => bookings.filter(ok).length;
    return {
      run,
      stock,
      bookings,
      booked: count((b) => 'ok' in b.outcome && b.outcome.ok),
      refused: count((b) => 'ok' in b.outcome && !b.outcome.ok),
      failed: count((b) => 'failed' in b.outcome),
      state,
      check: checkTravel(stock, bookings, state),
      stats,
    };
  }
}

/** The report's lines: bookings, refusals, retries, and the checks. */
export function describeReport(report: TravelLoadReport, travel: Travel, say: Say): void {
  const { check } = report;
  say(`bookings: ${report.booked} booked, ${report.refused} refused (sold out), ${report.failed} given up; calls tried again: ${travel.aborts} after TransactionAborted, ${travel.retries} after other errors`);
  say(`seats sold: ${check.sold.seats} of ${check.capacity.seats}; rooms sold: ${check.sold.rooms} of ${check.capacity.rooms}`);
  say(`reservations recorded: ${check.recorded}; charges: ${check.charges}; given up but recorded: ${check.givenUpButRecorded}`);
  say(`invariants broken: ${check.violations.length}`);
  for (const v of check.violations.slice(0, 20)) say(`  ${v}`);
  if (check.violations.length > 20) say(`  ... and ${check.violations.length - 20} more`);
}
