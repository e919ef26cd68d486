// The one KVS client, shared by users and executors. Calls made in the same
// tick are coalesced into one `batch` message; results are handed back to
// each caller. Every operation carries a deadline.
//
// A batch whose request or reply would exceed the NATS payload limit is split
// in halves and sent again: every KVS operation is a lattice merge, a read or
// a delete, all safe to repeat. A single operation that is too large fails
// with PayloadTooLarge and changes nothing.

import { request } from '../actor/rpc.js';
import type { Transport } from '../actor/transport.js';
import { arr } from '../codec/index.js';
import { deadlineIn } from '../deadline.js';
import { PayloadTooLarge, errorFromWire, MalformedMessage } from '../errors.js';
import { KVS_BATCH, type KvsOp, type KvsResult } from '../kvs_protocol.js';
import type { Lattice } from '../lattice/index.js';
import type { Subjects } from '../subjects.js';

interface Pending {
  op: KvsOp;
  deadline: number;
  resolve: (r: KvsResult) => void;
  reject: (err: unknown) => void;
}

export interface KvsClientOptions {
  /** Deadline for operations that name none. Default 10 s. */
  timeoutMs?: number;
}

export class KvsClient {
  private queue: Pending[] = [];
  private readonly timeoutMs: number;

  constructor(
    private readonly transport: Transport,
    private readonly subjects: Subjects,
    opts: KvsClientOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** The lattice stored under `key`, or undefined when there is none. */
  async get(key: string, deadline?: number): Promise<Lattice | undefined> {
    return (await this.enqueue({ op: 'get', key }, deadline)).value;
  }

  /** Merges `value` into `key`. */
  async put(key: string, value: Lattice, deadline?: number): Promise<void> {
    await this.enqueue({ op: 'put', key, value }, deadline);
  }

  async delete(key: string, deadline?: number): Promise<void> {
    await this.enqueue({ op: 'del', key }, deadline);
  }

  private enqueue(op: KvsOp, deadline = deadlineIn(this.timeoutMs)): Promise<KvsResult> {
    return new Promise((resolve, reject) => {
      if (this.queue.length === 0) queueMicrotask(() => this.flush());
      this.queue.push({ op, deadline, resolve, reject });
    }).then((r) => {
      const result = r as KvsResult;
      if (result.error) throw errorFromWire(result.error);
      return result;
    });
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    void this.send(batch);
  }

  private async send(batch: Pending[]): Promise<void> {
    const deadline = Math.min(...batch.map((p) => p.deadline));
    try {
      const body = await request(this.transport, this.subjects.kvs, KVS_BATCH, { ops: batch.map((p) => p.op) }, deadline);
      const results = arr(body as Record<string, unknown>, 'results');
      if (results.length !== batch.length) throw new MalformedMessage('kvs answered a different number of results');
      batch.forEach((p, i) => p.resolve(results[i] as KvsResult));
    } catch (err) {
      if (err instanceof PayloadTooLarge && batch.length > 1) {
        const half = batch.length >> 1;
        await Promise.all([this.send(batch.slice(0, half)), this.send(batch.slice(half))]);
        return;
      }
      for (const p of batch) p.reject(err);
    }
  }
}
