// Tells routers which of the calls they forwarded have finished, so they stop
// keeping them for a retry. Batched: one message per router per tick.

import type { Transport } from '../../lib/actor/transport.js';
import { CALLS_DONE } from '../../lib/call_protocol.js';
import { encodeMessage } from '../../lib/codec/index.js';

export class DoneNotices {
  private pending = new Map<string, string[]>();
  private scheduled = false;

  constructor(private readonly transport: Transport) {}

  add(router: string, id: string): void {
    let ids = this.pending.get(router);
    if (!ids) this.pending.set(router, (ids = []));
    ids.push(id);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const pending = this.pending;
    this.pending = new Map();
    for (const [router, ids] of pending) {
      try {
        this.transport.publish(router, encodeMessage(CALLS_DONE, { ids }));
      } catch {
        // The router is gone or the connection closing: it no longer waits.
      }
    }
  }
}
