// The `cb` object a function receives inside a worker thread. Every state
// operation is a message to the main thread, which owns the KVS client (and,
// with the shared-memory cache, will answer hits without a message at all).

import type { MessagePort } from 'node:worker_threads';
import { decode, encode } from '../../lib/codec/index.js';
import { InvalidArgument, errorFromWire } from '../../lib/errors.js';
import { checkUserKey } from '../../lib/reserved_keys.js';
import type { Cb } from '../../lib/function_api.js';
import { LWWPair, isLattice, type Lattice } from '../../lib/lattice/index.js';
import { lattices } from '../../lib/lattice_constructors.js';
import type { SharedCacheReader } from './cache/index.js';
import type { StateReply, StateRequest } from './worker_protocol.js';

type Waiter = { resolve: (r: StateReply) => void };

export class WorkerContext implements Cb {
  readonly lattices = lattices;
  private seq = 0;
  private readonly waiting = new Map<number, Waiter>();

  constructor(
    readonly id: string,
    private readonly writer: string,
    private readonly port: MessagePort,
    private readonly cache: SharedCacheReader,
  ) {
    port.on('message', (reply: StateReply) => {
      const w = this.waiting.get(reply.seq);
      this.waiting.delete(reply.seq);
      w?.resolve(reply);
    });
  }

  async get<T = unknown>(key: string): Promise<T | undefined> {
    const lattice = await this.getLattice(key);
    return lattice?.reveal() as T | undefined;
  }

  async getLattice(key: string): Promise<Lattice | undefined> {
    // A hit is a read of shared memory: no message to any thread.
    const cached = this.cache.get(checkUserKey(key));
    if (cached) return decode(cached) as Lattice;
    const reply = await this.ask({ seq: 0, op: 'get', key });
    return reply.value === undefined ? undefined : (decode(reply.value) as Lattice);
  }

  async put(key: string, value: unknown): Promise<void> {
    const lattice = isLattice(value) ? value : LWWPair.now(value, this.writer);
    await this.ask({ seq: 0, op: 'put', key: checkUserKey(key), value: encode(lattice) });
  }

  async send(to: string, data: Uint8Array): Promise<void> {
    if (typeof to !== 'string' || !(data instanceof Uint8Array)) throw new InvalidArgument('send takes a recipient id and a Uint8Array');
    await this.ask({ seq: 0, op: 'send', to, data });
  }

  async recv(timeoutMs?: number): Promise<{ from: string; data: Uint8Array }> {
    const reply = await this.ask({ seq: 0, op: 'recv', timeoutMs });
    return { from: reply.from ?? '', data: reply.value ?? new Uint8Array() };
  }

  close(): void {
    this.port.close();
  }

  private ask(req: StateRequest): Promise<StateReply> {
    req.seq = ++this.seq;
    return new Promise<StateReply>((resolve) => {
      this.waiting.set(req.seq, { resolve });
      this.port.postMessage(req);
    }).then((reply) => {
      if (reply.error) throw errorFromWire(reply.error);
      return reply;
    });
  }
}
