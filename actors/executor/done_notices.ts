// Tells routers which of the calls they forwarded have finished, so they stop
// keeping them for a retry. Batched: one message per router per tick.

import type { Transport } from '../../lib/actor/transport.js';
import { CALLS_DONE } from '../../lib/call_protocol.js';
import { encodeMessage } from '../../lib/codec/index.js';
import { TickBatcher } from '../../lib/tick_batcher.js';

export class DoneNotices {
  private readonly batches: TickBatcher<string, string>;

  constructor(transport: Transport) {
    this.batches = new TickBatcher((router, ids) => {
      try {
        transport.publish(router, encodeMessage(CALLS_DONE, { ids }));
      } catch {
        // The router is gone or the connection closing: it no longer waits.
      }
    });
  }

  add(router: string, id: string): void {
    this.batches.add(router, id);
  }
}
