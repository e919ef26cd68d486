// Request/reply on top of the transport, in the one shape every node speaks:
// a request is an envelope `{v, t, deadline, ...}`; the answer is
// `{v, t: 'ok', body}` or `{v, t: 'err', error}` with a typed wire error.
// Requests and answers larger than the server's max_payload travel in pieces
// (chunking.ts), up to `maxMessageBytes`; callers see no difference.

import { decodeMessage, encodeMessage, str, type Envelope } from '../codec/index.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../config.js';
import { remainingMs } from '../deadline.js';
import { CloudburstError, MalformedMessage, errorFromWire } from '../errors.js';
import { CHUNK, CHUNKED, CHUNK_ACK, CHUNK_GET, Incoming, Outgoing, pieceBytes, tooLarge } from './chunking.js';
import type { Transport } from './transport.js';

export const REPLY_OK = 'ok';
export const REPLY_ERR = 'err';

export interface RequestOptions {
  /** Largest request or answer, in bytes. Default DEFAULT_MAX_MESSAGE_BYTES (64 MiB). */
  maxMessageBytes?: number;
}

/** Sends `t` with `fields` and waits until `deadline` for the body of the answer. */
export async function request(
  transport: Transport,
  subject: string,
  t: string,
  fields: Record<string, unknown>,
  deadline: number,
  opts: RequestOptions = {},
): Promise<unknown> {
  const limit = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  // Over the limit is PayloadTooLarge (size and limit in `data`) before anything is sent.
  const data = encodeMessage(t, { ...fields, deadline }, limit);
  return requestEncoded(transport, subject, data, deadline, t, opts);
}

/** `request` for a message already encoded (with its deadline field). */
export async function requestEncoded(
  transport: Transport,
  subject: string,
  data: Uint8Array,
  deadline: number,
  what = 'request',
  opts: RequestOptions = {},
): Promise<unknown> {
  const limit = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (data.byteLength > limit) throw tooLarge(data.byteLength, limit);
  const reply =
    data.byteLength <= transport.maxPayload
      ? await transport.request(subject, data, remainingMs(deadline, what))
      : await pushPieces(transport, subject, data, deadline, what);
  return answerOf(transport, reply, deadline, limit, what);
}

/** Sends a message too large for one NATS message; resolves with the reply to its last piece (the answer). */
async function pushPieces(
  transport: Transport,
  subject: string,
  data: Uint8Array,
  deadline: number,
  what: string,
): Promise<Uint8Array> {
  const max = transport.maxPayload;
  const out = new Outgoing(data, pieceBytes(max));
  // `subject` may be a queue group: only the member that took piece 0 can put
  // the message together, so the rest goes to the subject it names.
  const first = await transport.request(subject, out.message(CHUNK, 0, max, { deadline }), remainingMs(deadline, what));
  const to = str(expect(first, CHUNK_ACK), 'subject');
  let reply = first;
  for (let i = 1; i < out.n; i++) {
    reply = await transport.request(to, out.message(CHUNK, i, max), remainingMs(deadline, what));
    if (i < out.n - 1) expect(reply, CHUNK_ACK);
  }
  return reply;
}

/** The body of an answer; a chunked one is fetched piece by piece from the actor that keeps it. */
async function answerOf(
  transport: Transport,
  bytes: Uint8Array,
  deadline: number,
  limit: number,
  what: string,
): Promise<unknown> {
  const msg = decodeMessage(bytes);
  if (msg.t !== CHUNKED) return bodyOf(msg);
  const incoming = Incoming.first(msg, limit);
  const from = str(msg, 'subject');
  let whole: Uint8Array | undefined;
  for (let i = 1; whole === undefined; i++) {
    const ask = encodeMessage(CHUNK_GET, { id: incoming.id, i });
    whole = incoming.accept(expect(await transport.request(from, ask, remainingMs(deadline, what)), CHUNK));
  }
  return bodyOf(decodeMessage(whole, limit));
}

/** Decodes a reply that must be of type `t`; an error reply throws the typed error. */
function expect(bytes: Uint8Array, t: string): Envelope {
  const msg = decodeMessage(bytes);
  if (msg.t === t) return msg;
  if (msg.t === REPLY_ERR) throw errorFromWire(msg['error']);
  throw new MalformedMessage(`expected a ${t} reply, got ${msg.t}`);
}

function bodyOf(msg: Envelope): unknown {
  if (msg.t === REPLY_OK) return msg['body'];
  if (msg.t === REPLY_ERR) throw errorFromWire(msg['error']);
  throw new MalformedMessage(`reply of unknown type ${msg.t}`);
}

/** The body of a reply that came in one message (a chunked one needs `request`). */
export function readReply(bytes: Uint8Array): unknown {
  return bodyOf(decodeMessage(bytes));
}

/** Encodes an answer; one over `maxBytes` becomes the error saying so. */
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
