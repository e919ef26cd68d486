// The main-thread end of a worker's state line: answers a running function's
// get/put through the KVS client, within the invocation's deadline.

import type { MessagePort } from 'node:worker_threads';
import type { KvsClient } from '../../lib/client/kvs_client.js';
import { decode, encode } from '../../lib/codec/index.js';
import { asCloudburstError, MalformedMessage } from '../../lib/errors.js';
import { isLattice } from '../../lib/lattice/index.js';
import type { StateReply, StateRequest } from './worker_protocol.js';

export function serveState(port: MessagePort, kvs: KvsClient, deadline: number): void {
  port.on('message', (req: StateRequest) => {
    answer(req, kvs, deadline).then(
      (reply) => port.postMessage(reply),
      (err: unknown) => port.postMessage({ seq: req.seq, error: asCloudburstError(err).toWire() }),
    );
  });
}

async function answer(req: StateRequest, kvs: KvsClient, deadline: number): Promise<StateReply> {
  if (req.op === 'get') {
    const value = await kvs.get(req.key, { deadline });
    return value === undefined ? { seq: req.seq } : { seq: req.seq, value: encode(value) };
  }
  const value = decode(req.value);
  if (!isLattice(value)) throw new MalformedMessage('put needs a lattice');
  await kvs.put(req.key, value, deadline);
  return { seq: req.seq };
}
