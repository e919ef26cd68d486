// The codec is the one door between a node and the wire: every value must come
// back as it went in (lattices as lattices), results must belong to the
// caller, and no bytes whatever may make it throw anything but MalformedMessage
// (or, for envelopes, UnknownMessageType).

import t from 'tap';
import fc from 'fast-check';
import { Tag, encode as cborxEncode } from 'cbor-x';
import { PROTOCOL_VERSION, decode, decodeMessage, encode, encodeMessage } from '../lib/codec/index.js';
import {
  CloudburstError,
  MalformedMessage,
  PayloadTooLarge,
  UnknownMessageType,
  errorFromWire,
  errors,
} from '../lib/errors.js';
import { LATTICE_TYPES, LWWPair, OrderedSetLattice, isLattice } from '../lib/lattice/index.js';
import { anyLattice, plainValueArb } from './fixtures/lattice_arbitraries.js';

/**
 * Structural equality as the codec promises it: lattices by kind and
 * `.equals`, numbers by Object.is (NaN equals NaN, -0 is not 0), byte strings
 * by content, objects by own keys.
 */
function same(a: unknown, b: unknown): boolean {
  if (isLattice(a) || isLattice(b)) {
    return isLattice(a) && isLattice(b) && a.kind === b.kind && a.equals(b) && b.equals(a);
  }
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b));
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  }
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    return (
      ka.length === kb.length &&
      ka.every((k, i) => k === kb[i] && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
    );
  }
  // -0 and 0 are one value on the wire (see the -0 test).
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

const keyArb = fc.oneof(
  fc.constantFrom('a', 'b', 'v', 't', 'body', ''),
  // "__proto__" does not survive a trip (see the todo test below).
  fc.string({ maxLength: 6 }).filter((k) => k !== '__proto__'),
);

/** Plain values and lattices nested in each other. */
const nestedArb: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    plainValueArb,
    anyLattice,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(keyArb, tie('value'), { maxKeys: 4 }),
  ),
})).value;

const check = <Ts>(property: fc.IRawProperty<Ts>, numRuns = 300) => fc.assert(property, { numRuns });

const describe = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : typeof err);

/** Runs `fn` and returns what it threw (undefined when it returned). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

void t.test('round trips', async (t) => {
  t.doesNotThrow(
    () =>
      check(
        fc.property(anyLattice, (lattice) => {
          const back = decode(encode(lattice));
          return isLattice(back) && back.constructor === lattice.constructor && same(back, lattice);
        }),
        1000,
      ),
    'every lattice kind decodes as the same class with equal state',
  );

  t.doesNotThrow(
    () =>
      check(
        fc.property(nestedArb, (value) => {
          return same(decode(encode(value)), value);
        }),
        500,
      ),
    'plain values with lattices nested anywhere come back equal',
  );

  t.doesNotThrow(
    () =>
      check(
        fc.property(fc.string({ minLength: 1, maxLength: 8 }), fc.dictionary(keyArb, nestedArb, { maxKeys: 3 }), (type, fields) => {
          const msg = decodeMessage(encodeMessage(type, fields));
          const { v, t: ty, ...rest } = msg;
          const expected = Object.fromEntries(Object.entries(fields).filter(([k]) => k !== 'v' && k !== 't'));
          return v === PROTOCOL_VERSION && ty === type && same(rest, expected);
        }),
      ),
    'encodeMessage/decodeMessage keep the type and fields, the envelope winning over fields named v and t',
  );

  void t.test('-0 travels as 0, and lattices holding it still equal their copy', async (t) => {
    t.equal(decode(encode(-0)), 0);
    const lww = new LWWPair<unknown>(1, 'w', -0);
    t.ok(lww.equals(decode(encode(lww)) as LWWPair), 'lww holding -0');
    const ordered = new OrderedSetLattice<unknown>([-0, 0]);
    t.equal(ordered.reveal().length, 1, '-0 and 0 are one element');
    t.ok(ordered.equals(decode(encode(ordered)) as OrderedSetLattice), 'ordered set holding -0 and 0');
  });

  void t.test('a "__proto__" key cannot pollute prototypes', async (t) => {
    // cbor-x's decoder renames the key "__proto__" to "__proto_" rather than
    // set an object's prototype from the wire.
    const decoded = decode(encode(JSON.parse('{"__proto__": {"polluted": 1}, "a": 2}'))) as Record<string, unknown>;
    t.equal(Object.getPrototypeOf(decoded), Object.prototype);
    t.equal((decoded as { polluted?: unknown }).polluted, undefined);
    t.same(Object.keys(decoded).sort(), ['__proto_', 'a']);
  });
});

void t.test('encoded bytes belong to the caller', async (t) => {
  t.doesNotThrow(
    () =>
      check(
        fc.property(fc.array(nestedArb, { minLength: 2, maxLength: 5 }), (values) => {
          const results = values.map((v) => encode(v));
          const copies = results.map((r) => Uint8Array.from(r));
          // Encoding more values after the fact must not touch earlier results.
          for (const v of values) encode(v);
          encode({ filler: new Uint8Array(4096).fill(0xab), values });
          if (!results.every((r, i) => Buffer.from(r).equals(Buffer.from(copies[i]!)))) return false;
          // Each result is its own buffer, so handing one away (transferring
          // it to a worker, writing into it) leaves every other result, and
          // the encoder, as they were.
          if (!results.every((r) => r.byteOffset === 0 && r.buffer.byteLength === r.byteLength)) return false;
          const [first, ...rest] = results;
          const moved = structuredClone(first!, { transfer: [first!.buffer as ArrayBuffer] });
          if (!Buffer.from(moved).equals(Buffer.from(copies[0]!))) return false;
          moved.fill(0xee);
          if (!rest.every((r, i) => Buffer.from(r).equals(Buffer.from(copies[i + 1]!)))) return false;
          return Buffer.from(encode(values[0])).equals(Buffer.from(copies[0]!));
        }),
        200,
      ),
    'later encodes, transfers and writes never change other results',
  );

  const a = encode({ x: 1 });
  const b = encode({ y: 2 });
  t.not(a.buffer, b.buffer, 'two results never share one buffer');
  t.equal(a.byteOffset, 0, 'a result starts its own buffer');
  t.equal(a.buffer.byteLength, a.byteLength, 'a result holds no pooled tail');

  t.doesNotThrow(
    () =>
      check(
        fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), nestedArb, (bytes, extra) => {
          const wire = encode({ bytes, extra });
          const decoded = decode(wire) as { bytes: Uint8Array };
          // The source is typically a NATS read buffer that is reused next.
          for (let i = 0; i < wire.length; i++) wire[i] = wire[i]! ^ 0xff;
          return Buffer.from(decoded.bytes).equals(Buffer.from(bytes));
        }),
        200,
      ),
    'decoded byte strings do not alias the source bytes',
  );
});

void t.test('hostile bytes', async (t) => {
  const onlyMalformed = (bytes: Uint8Array): boolean => {
    const err = thrown(() => decode(bytes));
    if (err === undefined || err instanceof MalformedMessage) return true;
    throw new Error(`decode threw ${describe(err)} instead of MalformedMessage`, { cause: err });
  };

  t.doesNotThrow(
    () => check(fc.property(fc.uint8Array({ maxLength: 64 }), onlyMalformed), 500),
    'random bytes decode or throw MalformedMessage',
  );

  t.doesNotThrow(
    () =>
      check(
        fc.property(nestedArb, (value) => {
          const full = encode(value);
          for (let i = 0; i < full.length; i++) {
            onlyMalformed(full.slice(0, i));
            // A failed decode must leave the decoder fit for the next message.
            if (i % 8 === 0 && !same(decode(full), value)) return false;
          }
          return true;
        }),
        200,
      ),
    'every truncation of a valid encoding throws MalformedMessage or decodes, and later decodes still work',
  );

  const envelopeOrTyped = (bytes: Uint8Array): boolean => {
    let msg: unknown;
    try {
      msg = decodeMessage(bytes);
    } catch (err) {
      if (err instanceof MalformedMessage || err instanceof UnknownMessageType) return true;
      throw new Error(`decodeMessage threw ${describe(err)}`, { cause: err });
    }
    const env = msg as { v: unknown; t: unknown };
    return typeof env.v === 'number' && typeof env.t === 'string';
  };

  t.doesNotThrow(
    () => check(fc.property(fc.uint8Array({ maxLength: 64 }), envelopeOrTyped), 500),
    'decodeMessage on random bytes: an envelope, MalformedMessage or UnknownMessageType',
  );

  t.doesNotThrow(
    () =>
      check(
        fc.property(
          fc.dictionary(keyArb, nestedArb, { maxKeys: 3 }),
          fc.nat(),
          fc.integer({ min: 0, max: 255 }),
          fc.nat(),
          (fields, pos, byte, cut) => {
            const bytes = encodeMessage('get', fields);
            bytes[pos % bytes.length] = byte;
            return envelopeOrTyped(bytes) && envelopeOrTyped(bytes.slice(0, cut % (bytes.length + 1)));
          },
        ),
        500,
      ),
    'decodeMessage on corrupted and truncated envelopes: an envelope, MalformedMessage or UnknownMessageType',
  );

  for (const { kind, tag } of LATTICE_TYPES) {
    const err = thrown(() => decode(cborxEncode(new Tag('not lattice data', tag))));
    t.type(err, MalformedMessage, `tag ${tag} (${kind}) wrapping a string is MalformedMessage`);
  }
  const maxInt = thrown(() => decode(cborxEncode(new Tag('x', 40505))));
  t.type(maxInt, MalformedMessage, 'max-int tag 40505 wrapping a string');
  t.match((maxInt as MalformedMessage).data, { kind: 'max-int' }, 'the error names the lattice kind');

  t.doesNotThrow(
    () =>
      check(
        fc.property(fc.constantFrom(...LATTICE_TYPES), fc.anything({ maxDepth: 3 }), ({ kind, tag }, content) => {
          let back: unknown;
          try {
            back = decode(cborxEncode(new Tag(content, tag)));
          } catch (err) {
            if (err instanceof MalformedMessage) return true;
            throw err;
          }
          // Whatever fromData accepts must be a real lattice of that kind that
          // itself survives the codec.
          return isLattice(back) && back.kind === kind && same(decode(encode(back)), back);
        }),
        500,
      ),
    'any content under a lattice tag is that lattice or MalformedMessage',
  );
});

void t.test('envelope', async (t) => {
  const wrongVersion = thrown(() => decodeMessage(encode({ v: PROTOCOL_VERSION + 1, t: 'get' })));
  t.type(wrongVersion, UnknownMessageType, 'another protocol version is UnknownMessageType');
  t.same((wrongVersion as UnknownMessageType).data, { v: PROTOCOL_VERSION + 1 }, 'and names the version');

  t.type(thrown(() => decodeMessage(encode({ v: PROTOCOL_VERSION }))), MalformedMessage, 'missing t');
  t.type(thrown(() => decodeMessage(encode({ v: PROTOCOL_VERSION, t: 7 }))), MalformedMessage, 'non-string t');
  t.type(thrown(() => decodeMessage(encode({ t: 'get' }))), MalformedMessage, 'missing v');
  t.type(thrown(() => decodeMessage(encode({ v: '1', t: 'get' }))), MalformedMessage, 'string v');
  for (const value of [[PROTOCOL_VERSION, 'get'], 'get', 1, null, true, new Uint8Array([1, 2])]) {
    t.type(thrown(() => decodeMessage(encode(value))), MalformedMessage, `non-map ${JSON.stringify(value)}`);
  }
  t.type(thrown(() => decodeMessage(new Uint8Array())), MalformedMessage, 'empty bytes');
  t.type(thrown(() => decodeMessage(new Uint8Array([0xff, 0x00]))), MalformedMessage, 'garbage bytes');

  const msg = decodeMessage(encodeMessage('put', { key: 'k', value: new LWWPair(1, 'w', 'x') }));
  t.equal(msg.t, 'put', 'type kept');
  t.equal(msg.v, PROTOCOL_VERSION, 'version stamped');
  t.ok(same(msg['value'], new LWWPair(1, 'w', 'x')), 'fields keep their lattices');
});

void t.test('size limits', async (t) => {
  const value = { data: new Uint8Array(1000).fill(7) };
  const size = encode(value).byteLength;

  t.equal(encode(value, size).byteLength, size, 'exactly the limit is allowed');
  const tooBig = thrown(() => encode(value, size - 1));
  t.type(tooBig, PayloadTooLarge, 'one byte over the limit on encode');
  t.same((tooBig as PayloadTooLarge).data, { size, limit: size - 1 }, 'encode error carries size and limit');

  const tooBigMsg = thrown(() => encodeMessage('put', value, 100));
  t.type(tooBigMsg, PayloadTooLarge, 'encodeMessage honours the limit');

  const bytes = encode(value);
  t.ok(same(decode(bytes, size), value), 'decode at exactly the limit');
  const decodeErr = thrown(() => decode(bytes, size - 1));
  t.type(decodeErr, PayloadTooLarge, 'decode over the limit');
  t.same((decodeErr as PayloadTooLarge).data, { size, limit: size - 1 }, 'decode error carries size and limit');
  t.type(thrown(() => decodeMessage(bytes, 10)), PayloadTooLarge, 'decodeMessage over the limit');

  t.doesNotThrow(
    () =>
      check(
        fc.property(nestedArb, fc.nat({ max: 200 }), (v, limit) => {
          const n = encode(v).byteLength;
          const err = thrown(() => encode(v, limit));
          return n > limit ? err instanceof PayloadTooLarge : err === undefined;
        }),
      ),
    'encode refuses exactly the values larger than the limit',
  );
});

void t.test('errors cross the wire as themselves', async (t) => {
  for (const [name, cls] of Object.entries(errors)) {
    const err = new cls(`${name} happened`, { data: { detail: 42, name } });
    const back = errorFromWire(decode(encode(err.toWire())));
    t.equal(back.constructor, cls, `${name}: same class`);
    t.type(back, cls, `${name}: instanceof`);
    t.equal(back.code, err.code, `${name}: same code`);
    t.equal(back.message, err.message, `${name}: same message`);
    t.same(back.data, { detail: 42, name }, `${name}: same data`);
    t.equal(back.name, name, `${name}: same name`);

    const plain = errorFromWire(new cls('no data').toWire());
    t.equal(plain.constructor, cls, `${name} without data: same class`);
    t.equal(plain.data, undefined, `${name} without data: no data`);
  }

  const codes = Object.values(errors).map((cls) => new cls('').code);
  t.equal(new Set(codes).size, codes.length, 'every class has its own code');

  const unknown = errorFromWire({ code: 'SOMETHING_NEW', message: 'from a newer node' });
  t.equal(unknown.constructor, CloudburstError, 'an unknown code becomes a CloudburstError');
  t.equal(unknown.message, 'from a newer node', 'keeping the message');
  t.type(errorFromWire(null), MalformedMessage, 'a missing error object is MalformedMessage');
  t.type(errorFromWire('oops'), MalformedMessage, 'a non-object error is MalformedMessage');
});
