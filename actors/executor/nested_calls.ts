// `cb.call` as the executor makes it: a call like any client's, to the
// routers, so the callee is placed, retried and bounded by the same rules.
// The answer's result bytes are handed to the worker as they came.

import { request } from '../../lib/actor/rpc.js';
import type { Transport } from '../../lib/actor/transport.js';
import { obj } from '../../lib/codec/index.js';
import { MalformedMessage } from '../../lib/errors.js';
import type { Subjects } from '../../lib/subjects.js';

/** Calls `fn` with `args` (exactly-once under `requestId` when given); resolves with the CBOR of its result. */
export async function callFunction(transport: Transport, subjects: Subjects, fn: string, args: unknown[], deadline: number, requestId?: string): Promise<Uint8Array> {
  const fields = { fn, args, consistency: 'lww', once: requestId !== undefined, atomic: false, ...(requestId === undefined ? {} : { id: requestId }) };
  const body = obj(await request(transport, subjects.sched, 'call', fields, deadline), 'call reply');
  if (!(body['result'] instanceof Uint8Array)) throw new MalformedMessage('call reply without a result');
  // A view into the message's buffer: copied before it is kept.
  return new Uint8Array(body['result']);
}
