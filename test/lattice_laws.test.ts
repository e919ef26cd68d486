// The laws every lattice must keep for replicas to converge: merge is
// associative, commutative and idempotent, never changes its inputs, and a
// lattice survives toData/fromData unchanged. Checked for every kind in
// LATTICE_TYPES, so a new kind without an arbitrary fails here.

import t from 'tap';
import fc from 'fast-check';
import { LatticeTypeMismatch } from '../lib/errors.js';
import { LATTICE_TYPES, compareValues, isLattice, mergeLattices, type Lattice } from '../lib/lattice/index.js';
import { anyLattice, latticeArbitraries, plainValueArb } from './fixtures/lattice_arbitraries.js';

const numRuns = 200;
const holds =
  <Ts>(property: fc.IRawProperty<Ts>) =>
  () =>
    fc.assert(property, { numRuns });

/** A deep copy of a lattice's state as plain data, to detect later mutation. */
function snapshot(x: unknown): unknown {
  if (isLattice(x)) return { kind: x.kind, data: snapshot(x.toData()) };
  if (x instanceof Uint8Array) return Uint8Array.from(x);
  if (Array.isArray(x)) return x.map(snapshot);
  if (typeof x === 'object' && x !== null) {
    return Object.fromEntries(Object.entries(x).map(([key, value]) => [key, snapshot(value)]));
  }
  return x;
}

/** What the codec can write: plain values, with lattices nested anywhere. */
function isPlainData(x: unknown): boolean {
  if (isLattice(x)) return isPlainData(x.toData());
  if (x instanceof Uint8Array) return true;
  if (Array.isArray(x)) return x.every(isPlainData);
  if (typeof x === 'object' && x !== null) {
    const proto: unknown = Object.getPrototypeOf(x);
    return (proto === Object.prototype || proto === null) && Object.values(x).every(isPlainData);
  }
  return typeof x !== 'function' && typeof x !== 'symbol';
}

const same = (a: Lattice, b: Lattice) => a.kind === b.kind && a.equals(b);

for (const { kind, fromData } of LATTICE_TYPES) {
  const arb = latticeArbitraries[kind];
  t.test(kind, async (t) => {
    t.doesNotThrow(holds(fc.property(arb, arb, (a, b) => same(a.merge(b), b.merge(a)))), 'merge is commutative');
    t.doesNotThrow(
      holds(fc.property(arb, arb, arb, (a, b, c) => same(a.merge(b).merge(c), a.merge(b.merge(c))))),
      'merge is associative',
    );
    t.doesNotThrow(holds(fc.property(arb, (a) => same(a.merge(a), a))), 'merge is idempotent');
    t.doesNotThrow(
      holds(fc.property(arb, arb, (a, b) => same(a.merge(b).merge(a), a.merge(b)))),
      'the merge already contains both inputs',
    );
    t.doesNotThrow(
      holds(
        fc.property(arb, arb, (a, b) => {
          const before = [snapshot(a), snapshot(b)];
          a.merge(b);
          b.merge(a);
          return compareValues(before, [snapshot(a), snapshot(b)]) === 0;
        }),
      ),
      'merge leaves its inputs unchanged',
    );
    t.doesNotThrow(
      holds(fc.property(arb, (a) => same(fromData(a.toData()), a))),
      'fromData(toData(x)) equals x',
    );
    t.doesNotThrow(holds(fc.property(arb, (a) => a.kind === kind && isPlainData(a.toData()))), 'toData is plain data');
  });
}

t.test('mergeLattices refuses to join different kinds', async (t) => {
  t.doesNotThrow(
    holds(
      fc.property(anyLattice, anyLattice, (a, b) => {
        fc.pre(a.kind !== b.kind);
        try {
          mergeLattices(a, b);
          return false;
        } catch (err) {
          return err instanceof LatticeTypeMismatch;
        }
      }),
    ),
  );
});

t.test('compareValues is a total order', async (t) => {
  const sign = (n: number) => Math.sign(n) || 0;
  t.doesNotThrow(
    holds(fc.property(plainValueArb, plainValueArb, (a, b) => sign(compareValues(a, b)) === -sign(compareValues(b, a)) || compareValues(a, b) === 0)),
    'antisymmetric',
  );
  t.doesNotThrow(holds(fc.property(plainValueArb, (a) => compareValues(a, structuredClone(a)) === 0)), 'a value equals its copy');
  t.doesNotThrow(
    holds(
      fc.property(fc.array(plainValueArb, { maxLength: 8 }), (values) => {
        // Boxed: Array#sort would move undefined to the end without comparing it.
        const sorted = values.map((value) => [value]).sort(([a], [b]) => compareValues(a, b)).map(([value]) => value);
        return sorted.every((x, i) => sorted.slice(i + 1).every((y) => compareValues(x, y) <= 0));
      }),
    ),
    'transitive: a sorted list is ordered pairwise',
  );
  t.equal(compareValues(-0, 0), 0, '-0 and 0 are one value, as on the wire');
  t.equal(compareValues(NaN, NaN), 0);
  t.equal(compareValues(undefined, null), -1, 'undefined first');
  t.equal(compareValues({ b: 1, a: 2 }, { a: 2, b: 1 }), 0, 'key order does not matter');
  t.ok(compareValues(null, undefined) > 0 && compareValues('1', 1) > 0 && compareValues(1n, 1) > 0, 'type rank first');
  t.throws(() => compareValues(new Date(), 1), { code: 'INVALID_ARGUMENT' });
});
