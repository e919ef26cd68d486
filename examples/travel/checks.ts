// The checks of a travel load: given what was put on sale, what every
// booking was answered, and the state read after the load, the invariants
// the serializable reservation keeps —
//   - no flight or hotel overbooked: seats (rooms) left >= 0, and no more
//     reservations hold a seat than the flight had;
//   - sold == reservations: capacity minus what is left is the number of
//     reservations holding one (a lost decrement shows here);
//   - every reservation answered ok is recorded once, under its user, and
//     one answered "sold out" is not recorded at all;
//   - every recorded reservation is charged exactly once, the fare plus the
//     rate, and there is no charge without a reservation.
// Each broken one is a line in `violations`.

import type { ReserveResult, Stock, TravelState } from './functions.js';

export interface Booking {
  id: string;
  user: string;
  flight: string;
  hotel: string;
  /** What the call answered, or why it was given up (then it may or may not have committed). */
  outcome: ReserveResult | { failed: string };
}

export interface TravelCheck {
  capacity: { seats: number; rooms: number };
  sold: { seats: number; rooms: number };
  /** Reservations recorded in the store, and charges in the ledgers. */
  recorded: number;
  charges: number;
  /** Bookings given up on (no answer) that are nevertheless recorded. */
  givenUpButRecorded: number;
  violations: string[];
}

export function checkTravel(stock: Stock, bookings: Booking[], state: TravelState): TravelCheck {
  const violations: string[] = [];
  const recorded = Object.entries(state.reservations).flatMap(([user, list]) => list.map((r) => ({ user, ...r })));
  const charges = Object.entries(state.charges).flatMap(([user, list]) => list.map((c) => ({ user, ...c })));

  const inventory = (kind: 'flight' | 'hotel', capacity: Record<string, number>, left: Record<string, number>) => {
    let cap = 0;
    let sold = 0;
    for (const [id, total] of Object.entries(capacity)) {
      const remaining = left[id];
      const holding = recorded.filter((r) => r[kind] === id).length;
      cap += total;
      if (remaining === undefined) {
        violations.push(`${kind} ${id}: not in the store`);
        continue;
      }
      sold += total - remaining;
      if (remaining < 0) violations.push(`${kind} ${id} overbooked: ${remaining} left of ${total}`);
      if (holding > total) violations.push(`${kind} ${id} overbooked: ${holding} reservations for ${total}`);
      if (holding !== total - remaining) violations.push(`${kind} ${id}: ${total - remaining} sold but ${holding} reservations hold one`);
    }
    return { cap, sold };
  };
  const seats = inventory('flight', Object.fromEntries(Object.entries(stock.flights).map(([id, f]) => [id, f.seats])), state.flights);
  const rooms = inventory('hotel', Object.fromEntries(Object.entries(stock.hotels).map(([id, h]) => [id, h.rooms])), state.hotels);

  const recordedById = new Map<string, typeof recorded>();
  for (const r of recorded) recordedById.set(r.id, [...(recordedById.get(r.id) ?? []), r]);
  const chargedById = new Map<string, typeof charges>();
  for (const c of charges) chargedById.set(c.reservation, [...(chargedById.get(c.reservation) ?? []), c]);
  const byId = new Map(bookings.map((b) => [b.id, b]));

  let givenUpButRecorded = 0;
  for (const b of bookings) {
    const found = recordedById.get(b.id) ?? [];
    if ('failed' in b.outcome) {
      if (found.length > 0) givenUpButRecorded++;
    } else if (b.outcome.ok) {
      if (found.length === 0) violations.push(`reservation ${b.id} was answered ok but is not recorded`);
      else if (!found.every((r) => r.user === b.user && r.flight === b.flight && r.hotel === b.hotel)) violations.push(`reservation ${b.id} is recorded as something else`);
    } else if (found.length > 0) {
      violations.push(`reservation ${b.id} was answered "${b.outcome.reason}" but is recorded`);
    }
  }
  for (const [id, found] of recordedById) {
    if (found.length > 1) violations.push(`reservation ${id} is recorded ${found.length} times`);
    if (!byId.has(id)) violations.push(`reservation ${id} is recorded but was never made`);
    const charged = chargedById.get(id) ?? [];
    if (charged.length !== 1) violations.push(`reservation ${id} is charged ${charged.length} times`);
    const r = found[0]!;
    const price = (stock.flights[r.flight]?.fare ?? NaN) + (stock.hotels[r.hotel]?.rate ?? NaN);
    for (const c of charged) {
      if (c.user !== r.user) violations.push(`reservation ${id} of ${r.user} is charged to ${c.user}`);
      if (c.amount !== price) violations.push(`reservation ${id} is charged ${c.amount}, not ${price}`);
    }
    const b = byId.get(id);
    if (b && 'ok' in b.outcome && b.outcome.ok && b.outcome.charged !== price) violations.push(`reservation ${id} was answered charged ${b.outcome.charged}, not ${price}`);
  }
  for (const id of chargedById.keys()) if (!recordedById.has(id)) violations.push(`a charge for reservation ${id}, which is not recorded`);

  return {
    capacity: { seats: seats.cap, rooms: rooms.cap },
    sold: { seats: seats.sold, rooms: rooms.sold },
    recorded: recorded.length,
    charges: charges.length,
    givenUpButRecorded,
    violations,
  };
}
