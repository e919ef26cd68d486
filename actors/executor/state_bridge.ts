// The main-thread end of a worker's line: answers a running function's state
// and messaging operations through the executor (`InvocationHost`), within
// the invocation's deadline.

import type { MessagePort } from 'node:worker_threads';
import { decode, encode } from '../../lib/codec/index.js';
import { asCloudburstError, MalformedMessage } from '../../lib/errors.js';
import { isLattice, type Lattice } from '../../lib/lattice/index.js';
import type { Delivered } from './inboxes.js';
import type { StateReply, StateRequest } from './worker_protocol.js';

/** What the executor offers a running invocation. */
export interface InvocationHost {
  get(key: string, deadline: number): Promise<Lattice | undefined>;
  put(key: string, value: Lattice, deadline: number): Promise<void>;
  send(from: string, to: string, data: Uint8Array, deadline: number): Promise<void>;
  receive(id: string, deadline: number): Promise<Delivered>;
}

export function serveState(port: MessagePort, host: InvocationHost, id: string, deadline: number): void {
  port.on('message', (req: StateRequest) => {
    answer(req, host, id, deadline).then(
      (reply) => port.postMessage(reply),
      (err: unknown) => port.postMessage({ seq: req.seq, error: asCloudburstError(err).toWire() }),
    );
  });
}

async function answer(req: StateRequest, host: InvocationHost, id: string, deadline: number): Promise<StateReply> {
  switch (req.op) {
    case 'get': {
      const value = await host.get(req.key, deadline);
      return value === undefined ? { seq: req.seq } : { seq: req.seq, value: encode(value) };
    }
    case 'put': {
      const value = decode(req.value);
      if (!isLattice(value)) throw new MalformedMessage('put needs a lattice');
      await host.put(req.key, value, deadline);
      return { seq: req.seq };
    }
    case 'send':
      await host.send(id, req.to, req.data, deadline);
      return { seq: req.seq };
    case 'recv': {
      const until = req.timeoutMs === undefined ? deadline : Math.min(deadline, Date.now() + req.timeoutMs);
      const m = await host.receive(id, until);
      return { seq: req.seq, value: m.data, from: m.from };
    }
  }
}
