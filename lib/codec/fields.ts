// Checks on decoded message fields. A handler that reads a field through these
// gets either a value of the right type or a MalformedMessage naming the field,
// so no node ever acts on a half-understood message.

import { MalformedMessage } from '../errors.js';
import { isLattice, type Lattice } from '../lattice/index.js';

type Fields = Record<string, unknown>;

export function str(msg: Fields, field: string): string {
  const v = msg[field];
  if (typeof v !== 'string') throw new MalformedMessage(`field ${field} must be a string`);
  return v;
}

export function num(msg: Fields, field: string): number {
  const v = msg[field];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new MalformedMessage(`field ${field} must be a number`);
  return v;
}

export function arr(msg: Fields, field: string): unknown[] {
  const v = msg[field];
  if (!Array.isArray(v)) throw new MalformedMessage(`field ${field} must be an array`);
  return v;
}

export function obj(value: unknown, what: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MalformedMessage(`${what} must be a map`);
  }
  return value as Fields;
}

export function lattice(msg: Fields, field: string): Lattice {
  const v = msg[field];
  if (!isLattice(v)) throw new MalformedMessage(`field ${field} must be a lattice`);
  return v;
}
