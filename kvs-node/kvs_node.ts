// A KVS shard actor. Skeleton stage: one in-memory shard serving batched
// get/put/delete on the shared `kvs` subject and its own; the hash ring,
// replication and the write-ahead log arrive with the Anna issue.

import { Actor, type ActorOptions } from '../lib/actor/actor.js';
import { actorOptions } from '../lib/actor/node_setup.js';
import { arr } from '../lib/codec/index.js';
import type { KvsConfig } from '../lib/config.js';
import { asCloudburstError } from '../lib/errors.js';
import { KVS_BATCH, parseOp, type KvsResult } from '../lib/kvs_protocol.js';
import { LatticeStore } from './store.js';

export class KvsNode extends Actor {
  readonly kind = 'kvs' as const;
  readonly subject: string;
  private readonly store = new LatticeStore();

  constructor(opts: ActorOptions) {
    super(opts);
    this.subject = this.subjects.kvsShard(this.id);
    const handlers = { [KVS_BATCH]: (msg: Record<string, unknown>) => this.batch(arr(msg, 'ops')) };
    this.serve(this.subject, handlers);
    this.serve(this.subjects.kvs, handlers, 'kvs');
  }

  static async create(config: KvsConfig): Promise<KvsNode> {
    return new KvsNode(await actorOptions('kvs', config));
  }

  protected override heartbeatFields(): Record<string, unknown> {
    return { keys: this.store.size };
  }

  private batch(ops: unknown[]): { results: KvsResult[] } {
    return { results: ops.map((raw) => this.apply(raw)) };
  }

  private apply(raw: unknown): KvsResult {
    try {
      const op = parseOp(raw);
      switch (op.op) {
        case 'get': {
          const value = this.store.get(op.key);
          return value === undefined ? {} : { value };
        }
        case 'put':
          this.store.put(op.key, op.value);
          return {};
        case 'del':
          this.store.delete(op.key);
          return {};
      }
    } catch (err) {
      return { error: asCloudburstError(err).toWire() };
    }
  }
}
