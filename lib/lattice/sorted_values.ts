// Sets of plain values are kept as arrays sorted by compareValues with no
// duplicates, so two equal sets are element-wise equal arrays and a union is a
// linear merge.

import type { LatticeKind } from './lattice.js';
import { compareValues, isPlainValue } from './value_order.js';
import { invalidArgument } from './validate.js';

/** Validates and sorts caller-supplied values into the canonical form. */
export function canonicalValues<T>(kind: LatticeKind, values: Iterable<T>): readonly T[] {
  const given = [...values];
  for (const value of given) {
    if (!isPlainValue(value)) throw invalidArgument(kind, 'values must be plain data');
  }
  // Boxed because Array#sort moves undefined to the end without asking the
  // comparator, though compareValues puts it first.
  const sorted = given.map((value) => ({ value })).sort((a, b) => compareValues(a.value, b.value)).map((box) => box.value);
  const unique: T[] = [];
  for (const value of sorted) {
    if (unique.length === 0 || compareValues(unique[unique.length - 1], value) !== 0) unique.push(value);
  }
  return Object.freeze(unique);
}

/** The union of two canonical arrays, itself canonical. */
export function unionSorted<T>(a: readonly T[], b: readonly T[]): readonly T[] {
  const out: T[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const c = compareValues(a[i], b[j]);
    if (c <= 0) out.push(a[i]!);
    else out.push(b[j]!);
    if (c <= 0) i++;
    if (c >= 0) j++;
  }
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return Object.freeze(out);
}

export function sameValues<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((value, i) => compareValues(value, b[i]) === 0);
}
