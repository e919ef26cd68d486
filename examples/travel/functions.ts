// Travel reservation (after Beldi's travel benchmark) as Cloudburst
// functions. A reservation takes a seat on a flight and a room in a hotel,
// records the reservation under the user and charges the user, all in ONE
// call run as a serializable transaction (`isolation: 'serializable'`,
// docs/consistency.md): every key it reads or writes is locked until it
// commits, so two bookers that read the last seat cannot both take it, and
// a booking refused because either is sold out writes nothing at all.
//
// Everything happens in the one call on purpose: a nested `cb.call` does
// not join the caller's transaction (and is refused inside a serializable
// call), so splitting the flight and the hotel into functions that call
// each other would lose the isolation this example is about.
//
// State (plain last-writer-wins values, written only by serializable calls):
//   travel/flight/<id>/seats      seats left
//   travel/flight/<id>/fare       what a seat costs
//   travel/hotel/<id>/rooms       rooms left
//   travel/hotel/<id>/rate        what a room costs
//   travel/reservations/<user>    the user's reservations, in booking order
//   travel/charges/<user>         the user's charges, one entry per charge,
//                                 each naming its reservation (so a
//                                 reservation charged twice shows as two entries)
//
// Shipped with the helpers below (moduleSource), and nothing else.

import type { Cb } from '../../lib/index.js';

export interface Reservation {
  id: string;
  flight: string;
  hotel: string;
}

export interface Charge {
  reservation: string;
  amount: number;
}

export type ReserveResult = { ok: true; reservation: string; charged: number } | { ok: false; reason: 'flight sold out' | 'hotel sold out' };

/** What is for sale: seats (or rooms) and the price of one, by flight (or hotel) id. */
export interface Stock {
  flights: Record<string, { seats: number; fare: number }>;
  hotels: Record<string, { rooms: number; rate: number }>;
}

/** Seats and rooms left, by id. */
export interface Availability {
  flights: Record<string, number>;
  hotels: Record<string, number>;
}

/** Everything the checks look at, read in one transaction. */
export interface TravelState extends Availability {
  reservations: Record<string, Reservation[]>;
  charges: Record<string, Charge[]>;
}

export function seatsKey(flight: string): string {
  return `travel/flight/${flight}/seats`;
}

export function fareKey(flight: string): string {
  return `travel/flight/${flight}/fare`;
}

export function roomsKey(hotel: string): string {
  return `travel/hotel/${hotel}/rooms`;
}

export function rateKey(hotel: string): string {
  return `travel/hotel/${hotel}/rate`;
}

export function reservationsKey(user: string): string {
  return `travel/reservations/${user}`;
}

export function chargesKey(user: string): string {
  return `travel/charges/${user}`;
}

/** The value of `key`, or an error naming `what` when there is none. */
export async function existing<T>(cb: Cb, key: string, what: string): Promise<T> {
  const value = await cb.get<T>(key);
  if (value === undefined) throw new Error(`there is no ${what}`);
  return value;
}

/** Puts flights and hotels on sale; refuses ids already on sale. Returns how many of each. */
export async function stock(cb: Cb, offer: Stock): Promise<{ flights: number; hotels: number }> {
  const whole = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;
  for (const [id, f] of Object.entries(offer.flights)) {
    if (!whole(f.seats) || !whole(f.fare)) throw new Error(`flight ${id}: seats and fare must be whole numbers >= 0`);
    if ((await cb.get(seatsKey(id))) !== undefined) throw new Error(`flight ${id} is already on sale`);
    await cb.put(seatsKey(id), f.seats);
    await cb.put(fareKey(id), f.fare);
  }
  for (const [id, h] of Object.entries(offer.hotels)) {
    if (!whole(h.rooms) || !whole(h.rate)) throw new Error(`hotel ${id}: rooms and rate must be whole numbers >= 0`);
    if ((await cb.get(roomsKey(id))) !== undefined) throw new Error(`hotel ${id} is already on sale`);
    await cb.put(roomsKey(id), h.rooms);
    await cb.put(rateKey(id), h.rate);
  }
  return { flights: Object.keys(offer.flights).length, hotels: Object.keys(offer.hotels).length };
}

/**
 * Reservation `id` for `user`: a seat on `flight` and a room in `hotel`,
 * charged once, or nothing at all if either is sold out. Plain
 * read-modify-write code: the isolation comes from how it is called.
 */
export async function reserve(cb: Cb, id: string, user: string, flight: string, hotel: string): Promise<ReserveResult> {
  const seats = await existing<number>(cb, seatsKey(flight), `flight ${flight}`);
  const rooms = await existing<number>(cb, roomsKey(hotel), `hotel ${hotel}`);
  if (seats <= 0) return { ok: false, reason: 'flight sold out' };
  if (rooms <= 0) return { ok: false, reason: 'hotel sold out' };
  const amount = (await existing<number>(cb, fareKey(flight), `fare of ${flight}`)) + (await existing<number>(cb, rateKey(hotel), `rate of ${hotel}`));
  await cb.put(seatsKey(flight), seats - 1);
  await cb.put(roomsKey(hotel), rooms - 1);
  const reservations = (await cb.get<Reservation[]>(reservationsKey(user))) ?? [];
  await cb.put(reservationsKey(user), [...reservations, { id, flight, hotel }]);
  const charges = (await cb.get<Charge[]>(chargesKey(user))) ?? [];
  await cb.put(chargesKey(user), [...charges, { reservation: id, amount }]);
  return { ok: true, reservation: id, charged: amount };
}

/** Seats and rooms left on these flights and hotels (missing ids are left out). */
export async function search(cb: Cb, flights: string[], hotels: string[]): Promise<Availability> {
  const found: Availability = { flights: {}, hotels: {} };
  // One read at a time: an atomic read picks each version to fit those already read.
  for (const f of flights) {
    const seats = await cb.get<number>(seatsKey(f));
    if (seats !== undefined) found.flights[f] = seats;
  }
  for (const h of hotels) {
    const rooms = await cb.get<number>(roomsKey(h));
    if (rooms !== undefined) found.hotels[h] = rooms;
  }
  return found;
}

/** Seats, rooms, and every listed user's reservations and charges, in one read. */
export async function audit(cb: Cb, flights: string[], hotels: string[], users: string[]): Promise<TravelState> {
  const available = await search(cb, flights, hotels);
  const state: TravelState = { ...available, reservations: {}, charges: {} };
  for (const u of users) {
    state.reservations[u] = (await cb.get<Reservation[]>(reservationsKey(u))) ?? [];
    state.charges[u] = (await cb.get<Charge[]>(chargesKey(u))) ?? [];
  }
  return state;
}
