// A deterministic total order over the plain values users store. Merges that
// must pick one of two values (LWW and priority ties, causal siblings, ordered
// sets) use it so every replica picks the same one whatever order merges ran
// in; it also defines when two values are "the same" (compare gives 0), which
// is structural, so a value equals its copy after a trip through CBOR.

import { InvalidArgument } from '../errors.js';

const UNSUPPORTED = -1;

/** Type comes first, so values of different types never compare by content. */
function rank(value: unknown): number {
  if (value === undefined) return 0;
  if (value === null) return 1;
  switch (typeof value) {
    case 'boolean':
      return 2;
    case 'number':
      return 3;
    case 'bigint':
      return 4;
    case 'string':
      return 5;
    default:
      break;
  }
  if (value instanceof Uint8Array) return 6;
  if (Array.isArray(value)) return 7;
  if (isPlainObject(value)) return 8;
  return UNSUPPORTED;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** True for data `compareValues` can order: the types a lattice may hold. */
export function isPlainValue(value: unknown): boolean {
  switch (rank(value)) {
    case UNSUPPORTED:
      return false;
    case 7:
      return (value as unknown[]).every(isPlainValue);
    case 8:
      return Object.values(value as Record<string, unknown>).every(isPlainValue);
    default:
      return true;
  }
}

function sign(n: number): number {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

function compareNumbers(a: number, b: number): number {
  if (a < b) return -1;
  if (a > b) return 1;
  // -0 and 0 are one value here, as on the wire (CBOR as cbor-x writes it
  // has no -0), so a value still equals itself after a trip. NaN, unordered
  // under `<`, must land somewhere fixed or "keep the larger" would depend on
  // argument order.
  if (a === b || Object.is(a, b)) return 0;
  return Number.isNaN(a) ? -1 : 1;
}

function comparePrimitives(a: string | bigint, b: string | bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return sign(a.length - b.length);
}

function compareArrays(a: readonly unknown[], b: readonly unknown[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = compareValues(a[i], b[i]);
    if (c !== 0) return c;
  }
  return sign(a.length - b.length);
}

// Key order must not depend on insertion order, which differs between
// replicas that built the same object differently.
function compareObjects(a: Record<string, unknown>, b: Record<string, unknown>): number {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  const n = Math.min(ka.length, kb.length);
  for (let i = 0; i < n; i++) {
    const c = comparePrimitives(ka[i]!, kb[i]!) || compareValues(a[ka[i]!], b[kb[i]!]);
    if (c !== 0) return c;
  }
  return sign(ka.length - kb.length);
}

/**
 * Orders undefined < null < booleans < numbers < bigints < strings <
 * byte strings < arrays < plain objects, then by content. Returns -1, 0 or 1.
 * Throws InvalidArgument on anything else (class instances, functions, ...).
 */
export function compareValues(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra === UNSUPPORTED || rb === UNSUPPORTED) {
    throw new InvalidArgument('lattice values must be plain data (no class instances, functions or symbols)');
  }
  if (ra !== rb) return sign(ra - rb);
  switch (ra) {
    case 2:
      return sign(Number(a) - Number(b));
    case 3:
      return compareNumbers(a as number, b as number);
    case 4:
    case 5:
      return comparePrimitives(a as string | bigint, b as string | bigint);
    case 6:
      return compareBytes(a as Uint8Array, b as Uint8Array);
    case 7:
      return compareArrays(a as unknown[], b as unknown[]);
    case 8:
      return compareObjects(a as Record<string, unknown>, b as Record<string, unknown>);
    default:
      return 0;
  }
}
