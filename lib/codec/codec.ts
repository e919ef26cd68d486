// The one codec: every message on the wire and every value in the KVS is CBOR
// written by this module. Lattices travel under their own tags (40501+), so a
// decoded value is the lattice class again, not a plain object.
//
// Two cbor-x traps are handled here, once: `encode()` returns a view into a
// pooled buffer that the next call reuses, so results are copied; and decoded
// byte strings are views into the source (a NATS read buffer) unless
// `copyBuffers` is set.
//
// And two of its habits that a client in another language would trip on
// (docs/protocol.md): cbor-x wraps byte strings in tag 64 (a typed array),
// which is turned off, so they go out as plain byte strings; and it decodes
// every 8-byte integer as a BigInt, though a standard encoder writes any
// integer of 2^32 or more that way, so integers are made numbers again
// wherever that is exact (integers.ts).

import { Encoder, addExtension } from 'cbor-x';
import { MalformedMessage, PayloadTooLarge, UnknownMessageType } from '../errors.js';
import { LATTICE_TYPES, type Lattice } from '../lattice/index.js';
import { REFERENCE_TAG, Ref } from '../reference.js';
import { bignum, exactIntegers, mayHoldBigInts } from './integers.js';

/** Version of the message envelope; a node answers others with UnknownMessageType. */
export const PROTOCOL_VERSION = 1;

/** NATS's default max_payload; the real limit comes from the server's INFO. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * Whether the message being decoded may hold BigInts to turn into numbers.
 * True outside decode(), so a lattice decoded by cbor-x called directly
 * (tests do) is still checked.
 */
let bigIntsPossible = true;

for (const type of LATTICE_TYPES) {
  addExtension({
    Class: type.cls,
    tag: type.tag,
    encode: (instance: Lattice, encode: (data: unknown) => Uint8Array) => encode(instance.toData()),
    // A lattice is built inside cbor-x's decode, before decode() below sees the result.
    decode: (data: unknown) => type.fromData(bigIntsPossible ? exactIntegers(data) : data),
  });
}

addExtension({
  Class: Ref,
  tag: REFERENCE_TAG,
  encode: (instance: Ref, encode: (data: unknown) => Uint8Array) => encode(instance.key),
  decode: (data: unknown) => Ref.fromData(data),
});

// Decode only (BigInts are encoded natively): cbor-x's typings ask for a
// Class and an encoder, which it does not need when Class is absent.
for (const [tag, negative] of [[2, false], [3, true]] as const) {
  addExtension({ tag, decode: bignum(negative) } as unknown as Parameters<typeof addExtension>[0]);
}

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true, copyBuffers: true, tagUint8Array: false });

/** Encodes any value (lattices included) to bytes the caller owns. */
export function encode(value: unknown, maxBytes = Infinity): Uint8Array {
  let pooled: Uint8Array;
  try {
    pooled = cbor.encode(value);
  } catch (err) {
    throw new MalformedMessage(`value cannot be encoded: ${(err as Error).message}`, { cause: err });
  }
  if (pooled.byteLength > maxBytes) {
    throw new PayloadTooLarge(`encoded size ${pooled.byteLength} B exceeds the limit of ${maxBytes} B`, {
      data: { size: pooled.byteLength, limit: maxBytes },
    });
  }
  return Uint8Array.prototype.slice.call(pooled);
}

/** Decodes bytes written by `encode`; anything else throws MalformedMessage. */
export function decode(bytes: Uint8Array, maxBytes = Infinity): unknown {
  if (bytes.byteLength > maxBytes) {
    throw new PayloadTooLarge(`message of ${bytes.byteLength} B exceeds the limit of ${maxBytes} B`, {
      data: { size: bytes.byteLength, limit: maxBytes },
    });
  }
  if (bytes.byteLength === 0) throw new MalformedMessage('empty message');
  // Byte strings decode as the source's class: a Buffer (LMDB gives them)
  // would make them Buffers, so the decoder reads a plain view of it.
  const source = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  bigIntsPossible = mayHoldBigInts(source);
  try {
    const value: unknown = cbor.decode(source);
    // Inside the try: a cyclic value (cbor-x's shared-reference tags) overflows the stack, a RangeError.
    return bigIntsPossible ? exactIntegers(value) : value;
  } catch (err) {
    if (err instanceof MalformedMessage) throw err;
    throw new MalformedMessage(`not valid CBOR: ${(err as Error).message}`, { cause: err });
  } finally {
    bigIntsPossible = true;
  }
}

/** Every message is `{ v, t, ...fields }`; `t` names what the rest means. */
export interface Envelope {
  v: number;
  t: string;
  [field: string]: unknown;
}

/** Encodes one message of type `t` with its fields. */
export function encodeMessage(t: string, fields: Record<string, unknown>, maxBytes = Infinity): Uint8Array {
  return encode({ ...fields, v: PROTOCOL_VERSION, t }, maxBytes);
}

/** Decodes and checks the envelope; the fields are the handler's to check. */
export function decodeMessage(bytes: Uint8Array, maxBytes = Infinity): Envelope {
  const msg = decode(bytes, maxBytes);
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg) || msg instanceof Uint8Array) {
    throw new MalformedMessage('message is not a CBOR map');
  }
  const { v, t } = msg as Partial<Envelope>;
  if (typeof v !== 'number') throw new MalformedMessage('message has no numeric version field v');
  if (typeof t !== 'string') throw new MalformedMessage('message has no string type field t');
  if (v !== PROTOCOL_VERSION) {
    throw new UnknownMessageType(`protocol version ${v} is not supported (this node speaks ${PROTOCOL_VERSION})`, {
      data: { v },
    });
  }
  return msg as Envelope;
}
