// The travel agency's client: registers the functions of functions.ts and
// calls them. A reservation is one serializable call, exactly-once under an
// id the caller gives (`requestId` `travel/<reservation id>`): a reservation
// tried again — by this client after TransactionAborted, a timeout or a lost
// connection, or by a router whose executor died mid-call — takes the seat
// and the room and charges the user once, and answers what the first run
// answered.
//
// `isolation: 'atomic'` runs the same calls as read-atomic transactions
// with no locks: the control that shows what the isolation is for (two
// bookers read the same seat count and both decrement it).

import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { CloudburstError, ExecutionError, FunctionNotFound, InvalidArgument, type CallOptions, type Cloudburst } from '../../lib/index.js';
import { moduleSource } from '../module_source.js';
import {
  audit,
  chargesKey,
  existing,
  fareKey,
  rateKey,
  reservationsKey,
  reserve,
  roomsKey,
  search,
  seatsKey,
  stock,
  type Availability,
  type ReserveResult,
  type Stock,
  type TravelState,
} from './functions.js';

export type { Availability, Charge, Reservation, ReserveResult, Stock, TravelState } from './functions.js';

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function checkName(what: string, name: string): string {
  if (typeof name !== 'string' || !NAME.test(name)) throw new InvalidArgument(`${what} "${name}" must be 1 to 64 letters, digits, _, . or -`);
  return name;
}

export interface TravelOptions {
  /** `serializable` (the point of the example) or `atomic` (no locks: the control). Default serializable. */
  isolation?: 'serializable' | 'atomic';
  /** Tries of one reservation before its error is given up on (every retry keeps the reservation's id). Default 20. */
  attempts?: number;
  /** Deadline of each try. Default: the connection's. */
  timeoutMs?: number;
}

export class Travel {
  /** Reservation calls that failed with TransactionAborted and were tried again. */
  aborts = 0;
  /** Reservation calls that failed otherwise (timeouts, lost executors, connection) and were tried again. */
  retries = 0;
  readonly isolation: 'serializable' | 'atomic';
  private readonly attempts: number;
  private readonly timeoutMs: number | undefined;

  constructor(
    private readonly client: Cloudburst,
    opts: TravelOptions = {},
  ) {
    this.isolation = opts.isolation ?? 'serializable';
    this.attempts = opts.attempts ?? 20;
    this.timeoutMs = opts.timeoutMs;
  }

  /** Registers the agency's functions (again: the newest code wins). */
  static async register(client: Cloudburst): Promise<void> {
    const keys = [seatsKey, fareKey, roomsKey, rateKey, reservationsKey, chargesKey, existing];
    await client.register('travel.stock', moduleSource(stock, ...keys));
    await client.register('travel.reserve', moduleSource(reserve, ...keys));
    await client.register('travel.search', moduleSource(search, ...keys));
    await client.register('travel.audit', moduleSource(audit, search, ...keys));
  }

  /** Puts these flights and hotels on sale. */
  stock(offer: Stock): Promise<{ flights: number; hotels: number }> {
    for (const id of [...Object.keys(offer.flights), ...Object.keys(offer.hotels)]) checkName('flight or hotel', id);
    // Exactly-once too, so a retry after a lost answer does not find its own stock and refuse.
    return this.call('travel.stock', [offer], { exactlyOnce: true, requestId: `travel/stock/${randomUUID()}` });
  }

  /**
   * Reservation `id` (unique per reservation: calling again with an id
   * repeats nothing and answers as the first call did) of a seat on `flight`
   * and a room in `hotel` for `user`, or `{ ok: false, reason }` if either is
   * sold out.
   */
  reserve(id: string, user: string, flight: string, hotel: string): Promise<ReserveResult> {
    checkName('reservation id', id);
    checkName('user', user);
    checkName('flight', flight);
    checkName('hotel', hotel);
    return this.call('travel.reserve', [id, user, flight, hotel], { exactlyOnce: true, requestId: `travel/${id}` });
  }

  /** Seats and rooms left, read atomically (no locks: a snapshot, possibly stale by the time it is used). */
  search(flights: string[], hotels: string[]): Promise<Availability> {
    return this.client.call('travel.search', [flights, hotels], { atomic: true, ...this.deadline() });
  }

  /** Seats, rooms, reservations and charges of these users, in one serializable read. */
  audit(flights: string[], hotels: string[], users: string[]): Promise<TravelState> {
    return this.call('travel.audit', [flights, hotels, users], { exactlyOnce: false, isolation: 'serializable' });
  }

  private deadline(): { timeoutMs?: number } {
    return this.timeoutMs === undefined ? {} : { timeoutMs: this.timeoutMs };
  }

  /** A call under this agency's isolation, tried again (same id) while it fails for a reason other than the function or its input. */
  private async call<T>(fn: string, args: unknown[], opts: { exactlyOnce: boolean; requestId?: string; isolation?: 'serializable' }): Promise<T> {
    const serializable = (opts.isolation ?? this.isolation) === 'serializable';
    const callOpts: CallOptions = {
      ...(serializable ? { isolation: 'serializable' } : { atomic: true }),
      ...(opts.exactlyOnce ? { exactlyOnce: true } : {}),
      ...(opts.requestId ? { requestId: opts.requestId } : {}),
      ...this.deadline(),
    };
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.client.call<T>(fn, args, callOpts);
      } catch (err) {
        const final = err instanceof ExecutionError || err instanceof InvalidArgument || err instanceof FunctionNotFound || !(err instanceof CloudburstError);
        if (final || attempt >= this.attempts) throw err;
        if (err.code === 'TRANSACTION_ABORTED') {
          // The executor already retried with backoff until the deadline: try again at once.
          this.aborts++;
        } else {
          // Often a node that died or a cluster catching up: pause a little (full jitter, doubling to 1 s).
          this.retries++;
          await delay(Math.random() * Math.min(1_000, 20 * 2 ** attempt));
        }
      }
    }
  }
}
