// `cb.call` as the executor makes it: a call like any client's, to the
// routers, so the callee is placed, retried and bounded by the same rules.
// The answer's result bytes are handed to the worker as they came.

import { request } from '../../lib/actor/rpc.js';
import type { Transport } from '../../lib/actor/transport.js';
import { obj } from '../../lib/codec/index.js';
import { MalformedMessage } from '../../lib/errors.js';
import type { Subjects } from '../../lib/subjects.js';

/** The fields of a plain call of `fn`, exactly-once under `requestId` when given. */
export function callFields(fn: string, args: unknown[], requestId?: string): Record<string, unknown> {
  return { fn, args, consistency: 'lww', once: requestId !== undefined, atomic: false, ...(requestId === undefined ? {} : { id: requestId }) };
}

/** Sends a `call` with `fields`; resolves with the CBOR of its result. */
export async function sendCallMessage(transport: Transport, subjects: Subjects, fields: Record<string, unknown>, deadline: number): Promise<Uint8Array> {
  const body = obj(await request(transport, subjects.sched, 'call', fields, deadline), 'call reply');
  if (!(body['result'] instanceof Uint8Array)) throw new MalformedMessage('call reply without a result');
  // A view into the message's buffer: copied before it is kept.
  return new Uint8Array(body['result']);
}
