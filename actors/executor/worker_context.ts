// The `cb` object a function receives inside a worker thread. A read the
// shared-memory cache holds is answered here; everything else is a request
// to the main thread on the state line.

import { decode, encode } from '../../lib/codec/index.js';
import { InvalidArgument } from '../../lib/errors.js';
import { checkPutOptions, type PutOptions } from '../../lib/kvs/expiry.js';
import { checkUserKey } from '../../lib/reserved_keys.js';
import type { Cb } from '../../lib/function_api.js';
import { LWWPair, isLattice, type Lattice } from '../../lib/lattice/index.js';
import { lattices } from '../../lib/lattice_constructors.js';
import type { SharedCacheReader } from './cache/index.js';
import type { StateAsk, WorkerStateLine } from './state_line.js';
import type { StateReply, WorkerReads } from './worker_protocol.js';

export class WorkerContext implements Cb {
  readonly lattices = lattices;
  /** Reads and writes so far, numbered in program order. */
  private steps = 0;

  /** `pinned` reads: what the main thread answered per key (it would answer the same again). */
  private readonly pinned: Map<string, Lattice | undefined> | undefined;

  constructor(
    readonly id: string,
    private readonly writer: string,
    private readonly line: WorkerStateLine,
    private readonly cache: SharedCacheReader,
    private readonly reads: WorkerReads = 'cache',
  ) {
    this.pinned = reads === 'pinned' ? new Map() : undefined;
  }

  async get<T = unknown>(key: string): Promise<T | undefined> {
    const lattice = await this.getLattice(key);
    return lattice?.reveal() as T | undefined;
  }

  async getLattice(key: string): Promise<Lattice | undefined> {
    checkUserKey(key);
    if (this.pinned?.has(key)) return this.pinned.get(key);
    // A hit is a read of shared memory: no message to any thread.
    const cached = this.reads === 'cache' ? this.cache.get(key) : undefined;
    if (cached) return decode(cached) as Lattice;
    const reply = await this.ask({ op: 'get', key, step: ++this.steps });
    const value = reply.value === undefined ? undefined : (decode(reply.value) as Lattice);
    this.pinned?.set(key, value);
    return value;
  }

  async put(key: string, value: unknown, opts?: PutOptions): Promise<void> {
    checkUserKey(key);
    // Refused here, before the put takes a step number.
    const ttlMs = checkPutOptions(opts);
    const lattice = isLattice(value) ? value : LWWPair.now(value, this.writer);
    await this.ask({ op: 'put', key, value: encode(lattice), step: ++this.steps, ...(ttlMs === undefined ? {} : { ttlMs }) });
    // The call reads its own write: the main thread pinned the merged version.
    this.pinned?.delete(key);
  }

  async call<T = unknown>(fn: string, args: unknown[] = [], opts: { timeoutMs?: number } = {}): Promise<T> {
    if (typeof fn !== 'string' || !Array.isArray(args)) throw new InvalidArgument('cb.call takes a function name and an array of arguments');
    const { timeoutMs } = opts;
    if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0)) throw new InvalidArgument(`cb.call: timeoutMs must be a positive number, got ${timeoutMs}`);
    const reply = await this.ask({ op: 'call', fn, args: encode(args), step: ++this.steps, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
    return decode(reply.value!) as T;
  }

  async callAsync(fn: string, args: unknown[] = [], opts: { delayMs?: number } = {}): Promise<string> {
    if (typeof fn !== 'string' || !Array.isArray(args)) throw new InvalidArgument('cb.callAsync takes a function name and an array of arguments');
    const { delayMs } = opts;
    if (delayMs !== undefined && !(Number.isFinite(delayMs) && delayMs >= 0)) throw new InvalidArgument(`cb.callAsync: delayMs must be a number of ms >= 0, got ${delayMs}`);
    const reply = await this.ask({ op: 'callAsync', fn, args: encode(args), step: ++this.steps, ...(delayMs === undefined ? {} : { delayMs }) });
    return reply.from!;
  }

  async sleep(ms: number): Promise<void> {
    if (!(Number.isFinite(ms) && ms >= 0)) throw new InvalidArgument(`cb.sleep takes a number of milliseconds >= 0, got ${ms}`);
    await this.ask({ op: 'sleep', ms, step: ++this.steps });
  }

  async send(to: string, data: Uint8Array): Promise<void> {
    if (typeof to !== 'string' || !(data instanceof Uint8Array)) throw new InvalidArgument('send takes a recipient id and a Uint8Array');
    await this.ask({ op: 'send', to, data });
  }

  async recv(timeoutMs?: number): Promise<{ from: string; data: Uint8Array }> {
    const reply = await this.ask({ op: 'recv', timeoutMs });
    return { from: reply.from ?? '', data: reply.value ?? new Uint8Array() };
  }

  private ask(req: DistributiveOmit<StateAsk, 'instance'>): Promise<StateReply> {
    return this.line.ask({ ...req, instance: this.id });
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
