// Errors shared by the lattices. Constructors reject bad arguments with
// InvalidArgument; fromData only checks the outer shape and reuses the
// constructors' checks, turning their InvalidArgument into MalformedMessage,
// because there the bad value came off the wire rather than from a caller.

import { InvalidArgument, MalformedMessage } from '../errors.js';
import type { LatticeKind } from './lattice.js';

/** A short name of a value's type for messages (String() can throw on objects). */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && Number.isNaN(value)) return 'NaN';
  return typeof value;
}

export function invalidArgument(kind: LatticeKind, message: string): InvalidArgument {
  return new InvalidArgument(`${kind} lattice: ${message}`, { data: { kind } });
}

export function malformed(kind: LatticeKind, message: string): MalformedMessage {
  return new MalformedMessage(`malformed ${kind} lattice data: ${message}`, { data: { kind } });
}

/** Runs a fromData body, reporting argument errors as a malformed message. */
export function decodeWith<L>(kind: LatticeKind, build: () => L): L {
  try {
    return build();
  } catch (err) {
    if (err instanceof InvalidArgument) {
      throw new MalformedMessage(`malformed ${kind} lattice data: ${err.message}`, { cause: err, data: { kind } });
    }
    throw err;
  }
}

export function expectArray(kind: LatticeKind, data: unknown, what: string, minLength = 0): readonly unknown[] {
  if (!Array.isArray(data)) throw malformed(kind, `${what} must be an array, got ${typeName(data)}`);
  if (data.length < minLength) throw malformed(kind, `${what} must have at least ${minLength} entries`);
  return data as readonly unknown[];
}

export function expectTuple(kind: LatticeKind, data: unknown, length: number, what: string): readonly unknown[] {
  const tuple = expectArray(kind, data, what);
  if (tuple.length !== length) throw malformed(kind, `${what} must have ${length} entries, got ${tuple.length}`);
  return tuple;
}
