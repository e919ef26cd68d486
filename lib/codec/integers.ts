// Integers as a standard CBOR encoder writes them. CBOR has one integer type
// in several widths, and encoders in other languages (cbor2, Go's
// fxamacker/cbor, Rust's ciborium) write any integer of 2^32 or more, such as
// a deadline or an LWW timestamp, in 8 bytes, where cbor-x writes a float64.
// cbor-x decodes every 8-byte integer as a BigInt, which no field check or
// lattice accepts; so decoded integers become numbers again wherever that is
// exact (within ±(2^53 - 1)), and stay BigInt, exact, beyond.

import { MalformedMessage } from '../errors.js';

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

function exact(n: bigint): number | bigint {
  return n <= MAX_EXACT && n >= -MAX_EXACT ? Number(n) : n;
}

/**
 * Replaces, in place, every BigInt within ±(2^53 - 1) in decoded arrays and
 * plain objects by the number it equals. Class instances (lattices, built
 * from data that already passed through here) are left alone.
 */
export function exactIntegers(value: unknown): unknown {
  if (typeof value === 'bigint') return exact(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = exactIntegers(value[i]);
  } else if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    const fields = value as Record<string, unknown>;
    for (const key of Object.keys(fields)) fields[key] = exactIntegers(fields[key]);
  }
  return value;
}

/**
 * Whether decoding `bytes` can give a BigInt: only an 8-byte integer, whose
 * head is the byte 0x1b (unsigned) or 0x3b (negative), does (bignums are
 * decoded by `bignum` below). Most messages our own nodes send have neither
 * byte and skip the walk.
 */
export function mayHoldBigInts(bytes: Uint8Array): boolean {
  return bytes.includes(0x1b) || bytes.includes(0x3b);
}

/** Decoders of tags 2 and 3 (RFC 8949 bignums): a number when exact, else a BigInt. */
export function bignum(negative: boolean): (data: unknown) => number | bigint {
  return (data) => {
    if (!(data instanceof Uint8Array)) throw new MalformedMessage('a bignum (tag 2 or 3) must hold a byte string');
    let n = 0n;
    for (const byte of data) n = (n << 8n) | BigInt(byte);
    return exact(negative ? -1n - n : n);
  };
}
