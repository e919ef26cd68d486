// Request/reply on top of the transport, in the one shape every node speaks:
// a request is an envelope `{v, t, deadline, ...}`; the answer is
// `{v, t: 'ok', body}` or `{v, t: 'err', error}` with a typed wire error.

import { decodeMessage, encodeMessage } from '../codec/index.js';
import { remainingMs } from '../deadline.js';
import { CloudburstError, MalformedMessage, errorFromWire } from '../errors.js';
import type { Transport } from './transport.js';

export const REPLY_OK = 'ok';
export const REPLY_ERR = 'err';

/** Sends `t` with `fields` and waits until `deadline` for the body of the answer. */
export async function request(
  transport: Transport,
  subject: string,
  t: string,
  fields: Record<string, unknown>,
  deadline: number,
): Promise<unknown> {
  const data = encodeMessage(t, { ...fields, deadline }, transport.maxPayload);
  const reply = await transport.request(subject, data, remainingMs(deadline, t));
  return readReply(reply);
}

export function readReply(bytes: Uint8Array): unknown {
  const msg = decodeMessage(bytes);
  if (msg.t === REPLY_OK) return msg['body'];
  if (msg.t === REPLY_ERR) throw errorFromWire(msg['error']);
  throw new MalformedMessage(`reply of unknown type ${msg.t}`);
}

/** Encodes an answer; one too large for the wire becomes the error saying so. */
export function encodeReply(body: unknown, maxBytes: number): Uint8Array {
  try {
    return encodeMessage(REPLY_OK, { body }, maxBytes);
  } catch (err) {
    if (err instanceof CloudburstError) return encodeError(err);
    throw err;
  }
}

export function encodeError(err: CloudburstError): Uint8Array {
  return encodeMessage(REPLY_ERR, { error: err.toWire() });
}
