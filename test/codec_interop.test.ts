// What a client in another language sends must decode to what our nodes
// expect. A standard CBOR encoder (cbor2, Go's fxamacker/cbor, Rust's
// ciborium) writes an integer as an integer in the fewest bytes, so a
// deadline (ms since the epoch, above 2^32) arrives as a uint64 where cbor-x
// writes a float64; a non-canonical one may use any width. And what our
// nodes answer must be plain CBOR a foreign decoder reads without knowing
// cbor-x's extensions. The bytes here are built by hand, head by head, so
// they are what such an encoder writes, not what cbor-x would.

import t from 'tap';
import { decode, decodeMessage, encode, num } from '../lib/codec/index.js';
import { encodeReply } from '../lib/actor/rpc.js';
import { LWWPair, MaxIntLattice, VectorClock } from '../lib/lattice/index.js';

/** A CBOR head: major type, then `value` in exactly `width` bytes (0: in the initial byte). */
function head(major: number, value: bigint, width: 0 | 1 | 2 | 4 | 8): number[] {
  const ai = { 0: Number(value), 1: 24, 2: 25, 4: 26, 8: 27 }[width];
  const out = [(major << 5) | ai];
  for (let i = width - 1; i >= 0; i--) out.push(Number((value >> BigInt(8 * i)) & 0xffn));
  return out;
}

const text = (s: string): number[] => [...head(3, BigInt(Buffer.byteLength(s)), Buffer.byteLength(s) < 24 ? 0 : 1), ...Buffer.from(s)];
const float64 = (x: number): number[] => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(x);
  return [0xfb, ...b];
};
const float32 = (x: number): number[] => {
  const b = Buffer.alloc(4);
  b.writeFloatBE(x);
  return [0xfa, ...b];
};

/** `{v: 1, t: "call", deadline: <the given encoded item>}` as a generic encoder writes it. */
function callWithDeadline(item: number[]): Uint8Array {
  return Uint8Array.from([0xa3, ...text('v'), 0x01, ...text('t'), ...text('call'), ...text('deadline'), ...item]);
}

void t.test('a deadline of any integer width, or a float, is a number', async (t) => {
  const future = BigInt(Date.now() + 60_000);
  const cases: [string, number[], number][] = [
    ['uint8', head(0, 200n, 1), 200],
    ['uint16', head(0, 60_000n, 2), 60_000],
    ['uint32', head(0, 4_000_000_000n, 4), 4_000_000_000],
    ['uint64 (how any standard encoder writes now + 60 s)', head(0, future, 8), Number(future)],
    ['uint64 holding a small value (non-minimal width)', head(0, 7n, 8), 7],
    ['float64', float64(Number(future)), Number(future)],
    ['float64 with a fraction', float64(Number(future) + 0.5), Number(future) + 0.5],
    ['float32', float32(1024), 1024],
  ];
  for (const [what, item, expected] of cases) {
    const msg = decodeMessage(callWithDeadline(item));
    t.equal(typeof msg['deadline'], 'number', `${what}: decodes as a number`);
    let parsed: unknown;
    try {
      parsed = num(msg, 'deadline');
    } catch (err) {
      parsed = err;
    }
    t.equal(parsed, expected, `${what}: the deadline field parses`);
  }
});

void t.test('integers: numbers while exact, BigInt beyond 2^53 - 1', async (t) => {
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  t.equal(decode(Uint8Array.from(head(0, max, 8))), Number.MAX_SAFE_INTEGER, '2^53 - 1 as uint64 is a number');
  t.equal(decode(Uint8Array.from(head(1, max - 1n, 8))), -Number.MAX_SAFE_INTEGER, '-(2^53 - 1) as nint64 is a number');
  t.equal(decode(Uint8Array.from(head(0, max + 1n, 8))), max + 1n, '2^53 as uint64 is BigInt 2^53, exact');
  t.equal(decode(Uint8Array.from(head(0, 2n ** 64n - 1n, 8))), 2n ** 64n - 1n, '2^64 - 1 is BigInt, exact');
  t.equal(decode(Uint8Array.from(head(1, max + 1n, 8))), -(max + 2n), '-(2^53 + 1) as nint64 is BigInt, exact');
  // Tag 2 (a bignum): a standard encoder writes integers of 2^64 and more this way.
  t.equal(decode(Uint8Array.from([0xc2, 0x49, 0x01, 0, 0, 0, 0, 0, 0, 0, 0])), 2n ** 64n, 'a tag-2 bignum is BigInt');
  t.equal(decode(Uint8Array.from([0xc2, 0x41, 0x05])), 5, 'a tag-2 bignum holding 5 is the number 5');
  const nested = decode(Uint8Array.from([0x82, ...head(0, 5n, 8), 0xa1, ...text('n'), ...head(0, 6n, 8)]));
  t.strictSame(nested, [5, { n: 6 }], 'inside arrays and maps too');
  t.equal(decode(encode(5n)), 5, 'so a JS BigInt within 2^53 comes back as a number (CBOR has one integer type)');
  t.equal(decode(encode(2n ** 60n)), 2n ** 60n, 'and one beyond comes back as the same BigInt');
});

void t.test('lattices whose numbers a foreign encoder wrote as uint64', async (t) => {
  const micros = BigInt(Date.now()) * 1000n;
  // Tag 40501 (lww): [timestamp, writer, value].
  const lww = decode(Uint8Array.from([0xd9, 0x9e, 0x35, 0x83, ...head(0, micros, 8), ...text('w'), ...text('hi')]));
  t.ok(lww instanceof LWWPair && lww.equals(new LWWPair(Number(micros), 'w', 'hi')), 'lww with a uint64 timestamp');
  const maxInt = decode(Uint8Array.from([0xd9, 0x9e, 0x39, ...head(0, 5_000_000_000n, 8)]));
  t.ok(maxInt instanceof MaxIntLattice && maxInt.value === 5_000_000_000, 'max-int with a uint64 value');
  const clock = decode(Uint8Array.from([0xd9, 0x9e, 0x3b, 0x81, 0x82, ...text('a'), ...head(0, 3n, 8)]));
  t.ok(clock instanceof VectorClock && clock.get('a') === 3, 'vector clock with a uint64 counter');
});

void t.test('byte strings go out untagged', async (t) => {
  // A call's result travels as a byte string: a foreign decoder must read it
  // as one, not as tag 64 (RFC 8746 typed array) around one.
  t.equal(Buffer.from(encode(Uint8Array.from([1, 2]))).toString('hex'), '420102', 'a Uint8Array is major type 2');
  const reply = encodeReply({ result: encode(5) }, Infinity);
  t.ok(Buffer.from(reply).toString('hex').includes('66726573756c744105'), 'a call reply: "result" then the bytes 05, untagged');
  const fromBuffer = decode(Buffer.from(encode({ b: Uint8Array.from([9]) }))) as { b: Uint8Array };
  t.equal(fromBuffer.b.constructor, Uint8Array, 'decoded byte strings are Uint8Array, even from a Buffer (as LMDB gives)');
});

void t.test('maps and arrays as any encoder may write them', async (t) => {
  t.strictSame(decode(Uint8Array.from([0xa1, 0x01, ...text('a')])), { 1: 'a' }, 'a map key that is not text becomes text');
  t.strictSame(decode(Uint8Array.from([0x9f, 0x01, 0x02, 0xff])), [1, 2], 'an indefinite-length array');
  t.strictSame(decode(Uint8Array.from([0xbf, ...text('a'), 0x01, 0xff])), { a: 1 }, 'an indefinite-length map');
});
