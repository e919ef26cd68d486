// Concrete and property tests of what the law tests cannot see: which values
// causal lattices keep, how clocks order, and which inputs are refused.

import t from 'tap';
import fc from 'fast-check';
import { InvalidArgument, LatticeTypeMismatch, MalformedMessage } from '../lib/errors.js';
import {
  BoolLattice,
  LATTICE_TYPES,
  LWWPair,
  MapLattice,
  MaxIntLattice,
  MultiKeyCausal,
  OrderedSetLattice,
  PriorityLattice,
  SetLattice,
  SingleKeyCausal,
  VectorClock,
  compareValues,
  mergeLattices,
  type Lattice,
  type LatticeKind,
} from '../lib/lattice/index.js';
import { smallValueArb, vectorClockArb } from './fixtures/lattice_arbitraries.js';

const numRuns = 200;
const holds =
  <Ts>(property: fc.IRawProperty<Ts>) =>
  () =>
    fc.assert(property, { numRuns });
const clock = (counters: Record<string, number>) => new VectorClock(counters);
const single = (counters: Record<string, number>, ...values: unknown[]) => new SingleKeyCausal(clock(counters), values);

t.test('VectorClock', async (t) => {
  t.equal(clock({}).compare(clock({})), 'equal');
  t.ok(clock({ a: 0 }).equals(clock({})), 'a zero entry is the same as a missing one');
  t.same(clock({ a: 0, b: 2 }).toData(), [['b', 2]], 'zero entries are dropped');
  t.equal(clock({ a: 1 }).compare(clock({})), 'after');
  t.equal(clock({}).compare(clock({ a: 1 })), 'before');
  t.equal(clock({ a: 1 }).compare(clock({ b: 1 })), 'concurrent');
  t.equal(clock({ a: 1, b: 2 }).compare(clock({ a: 2, b: 2 })), 'before');
  t.equal(clock({ a: 2, b: 1 }).compare(clock({ a: 1, b: 2 })), 'concurrent');
  t.ok(clock({ a: 1 }).dominates(clock({ a: 1 })), 'a clock dominates an equal one');
  t.notOk(clock({ a: 1 }).dominates(clock({ b: 1 })));
  const c = clock({ a: 1 });
  const next = c.increment('b').increment('a');
  t.same([next.get('a'), next.get('b'), next.get('z')], [2, 1, 0]);
  t.equal(c.get('a'), 1, 'increment leaves the original alone');
  t.same(c.merge(clock({ a: 0, b: 3 })).toData(), [['a', 1], ['b', 3]]);

  const mirror = { before: 'after', after: 'before', equal: 'equal', concurrent: 'concurrent' } as const;
  t.doesNotThrow(
    holds(fc.property(vectorClockArb, vectorClockArb, (a, b) => b.compare(a) === mirror[a.compare(b)])),
    'compare is antisymmetric',
  );
  t.doesNotThrow(
    holds(
      fc.property(vectorClockArb, vectorClockArb, (a, b) => {
        const order = a.compare(b);
        return a.dominates(b) === (order === 'after' || order === 'equal');
      }),
    ),
    'dominates agrees with compare',
  );
  t.doesNotThrow(
    holds(fc.property(vectorClockArb, vectorClockArb, (a, b) => a.merge(b).dominates(a) && a.merge(b).dominates(b))),
    'a merge dominates both inputs',
  );
  t.doesNotThrow(
    holds(fc.property(vectorClockArb, fc.constantFrom('a', 'b', 'z'), (a, node) => a.increment(node).compare(a) === 'after')),
    'increment moves strictly forward',
  );
});

t.test('SingleKeyCausal keeps concurrent writes and drops superseded ones', async (t) => {
  const a = single({ x: 1 }, 'A');
  const b = single({ y: 1 }, 'B');
  const ab = a.merge(b);
  t.same(ab.reveal(), ['A', 'B'], 'concurrent values are siblings');
  t.equal(ab.versions.length, 2);
  t.same(ab.clock.toData(), [['x', 1], ['y', 1]], 'the clock joins the siblings’ clocks');

  t.same(a.merge(single({ x: 2 }, 'A2')).reveal(), ['A2'], 'a later write replaces an earlier one');
  t.same(single({ x: 2 }, 'A2').merge(a).reveal(), ['A2'], 'whichever side it arrives on');
  t.same(a.merge(single({ x: 1 }, 'A', 'Z')).reveal(), ['A', 'Z'], 'equal clocks union their values');
  t.same(ab.merge(single({ x: 2, y: 1 }, 'C')).reveal(), ['C'], 'a write that saw both siblings replaces both');
  t.same(ab.merge(single({ x: 2 }, 'C')).reveal(), ['B', 'C'], 'a write that saw one sibling replaces only that one');

  // Anna's single merged clock would union C into [A, B, C] here but drop A and
  // B when C is merged with them one at a time; per-sibling clocks agree.
  const c = single({ x: 1, y: 1 }, 'C');
  t.same(ab.merge(c).reveal(), ['C'], 'a write at the siblings’ joined clock saw both');
  t.ok(ab.merge(c).equals(a.merge(b.merge(c))), 'merge order does not matter');

  t.same(single({}, 3, 1, 3, 2).reveal(), [1, 2, 3], 'values are sorted and deduplicated');
  t.ok(single({ x: 1 }, 2, 1).equals(single({ x: 1 }, 1, 2)));
  t.ok(new SingleKeyCausal().equals(SingleKeyCausal.fromVersions([])), 'an empty state is one empty write');

  const values = ['v'];
  const copied = new SingleKeyCausal(clock({ x: 1 }), values);
  values.push('w');
  t.same(copied.reveal(), ['v'], 'the constructor copies its values');

  const singleArb = fc.tuple(vectorClockArb, fc.array(smallValueArb, { maxLength: 3 }));
  t.doesNotThrow(
    holds(
      fc.property(singleArb, singleArb, ([ca, va], [cb, vb]) => {
        const x = new SingleKeyCausal(ca, va);
        const y = new SingleKeyCausal(cb, vb);
        const merged = x.merge(y);
        switch (ca.compare(cb)) {
          case 'after':
            return merged.equals(x);
          case 'before':
            return merged.equals(y);
          case 'equal':
            return merged.versions.length === 1 && merged.equals(new SingleKeyCausal(ca, [...va, ...vb]));
          case 'concurrent':
            return (
              merged.versions.length === 2 &&
              merged.clock.equals(ca.merge(cb)) &&
              compareValues(merged.reveal(), new OrderedSetLattice([...va, ...vb]).reveal()) === 0
            );
        }
      }),
    ),
    'two writes: the dominating one wins, equal or concurrent ones are unioned',
  );
});

t.test('MultiKeyCausal follows the own clock and carries dependencies', async (t) => {
  const multi = (counters: Record<string, number>, deps: Record<string, Record<string, number>>, ...values: unknown[]) =>
    new MultiKeyCausal(
      clock(counters),
      values,
      Object.entries(deps).map(([key, c]): [string, VectorClock] => [key, clock(c)]),
    );
  const depsOf = (m: MultiKeyCausal) => [...m.deps].map(([key, c]) => [key, c.toData()]);

  const old = multi({ x: 1 }, { k: { n: 5 } }, 'old');
  const newer = multi({ x: 2 }, { j: { n: 1 } }, 'new');
  const won = old.merge(newer);
  t.same(won.reveal(), ['new'], 'the dominating write wins');
  t.same(depsOf(won), [['j', [['n', 1]]]], 'with its own dependencies only, however large the loser’s');

  const side = multi({ y: 1 }, { k: { n: 2, m: 1 }, j: { n: 1 } }, 'side');
  const both = old.merge(side);
  t.same(both.reveal(), ['old', 'side'], 'concurrent writes are siblings');
  t.same(depsOf(both), [['j', [['n', 1]]], ['k', [['m', 1], ['n', 5]]]], 'their dependencies merge key by key');
  t.equal(both.versions.length, 2);

  const same = old.merge(multi({ x: 1 }, { k: { m: 3 } }, 'twin'));
  t.same(same.reveal(), ['old', 'twin'], 'equal clocks union values');
  t.same(depsOf(same), [['k', [['m', 3], ['n', 5]]]], 'and merge dependencies');
  t.equal(same.versions.length, 1);

  t.throws(() => new MultiKeyCausal(clock({}), [], [['k', new MaxIntLattice(1)]] as never), InvalidArgument);
});

t.test('MapLattice', async (t) => {
  const m = new MapLattice<Lattice>([['n', new MaxIntLattice(1)]]);
  const clash = new MapLattice<Lattice>([['n', new BoolLattice(true)]]);
  t.throws(() => m.merge(clash), LatticeTypeMismatch, 'one key cannot hold two kinds');
  t.throws(() => m.merge(clash), { code: 'LATTICE_TYPE_MISMATCH', data: { key: 'n', have: 'max-int', got: 'bool' } }, 'the error names the key');
  t.throws(() => mergeLattices<MapLattice | MaxIntLattice>(m, new MaxIntLattice(1)), LatticeTypeMismatch);

  const merged = m.merge(new MapLattice<Lattice>([['n', new MaxIntLattice(4)], ['s', new SetLattice(['a'])]]));
  t.same([...merged.reveal()], [['n', 4], ['s', new Set(['a'])]], 'merged per key');
  t.equal(merged.get('n')?.reveal(), 4);
  t.equal(m.get('n')?.reveal(), 1, 'inputs are unchanged');
  t.throws(() => new MapLattice([['k', new BoolLattice()], ['k', new BoolLattice()]]), InvalidArgument);
});

t.test('scalar tie-breaks keep merge commutative', async (t) => {
  const lww = (ts: number, writer: string, value: unknown) => new LWWPair(ts, writer, value);
  t.equal(lww(2, 'a', 'x').merge(lww(1, 'z', 'y')).reveal(), 'x', 'the later timestamp wins');
  t.equal(lww(1, 'a', 'x').merge(lww(1, 'b', 'y')).reveal(), 'y', 'then the higher writer');
  t.equal(lww(1, 'a', 'x').merge(lww(1, 'a', 'y')).reveal(), 'y', 'then the larger value');
  t.equal(lww(1, 'a', 'y').merge(lww(1, 'a', 'x')).reveal(), 'y', 'in either order');
  t.equal(new PriorityLattice(1, 'far').merge(new PriorityLattice(0, 'near')).reveal(), 'near', 'the lower priority wins');
  t.equal(new PriorityLattice(0, 'a').merge(new PriorityLattice(0, 'b')).reveal(), 'b');
  t.equal(new PriorityLattice(0, 'b').merge(new PriorityLattice(0, 'a')).reveal(), 'b');
});

t.test('LWWPair.now is strictly increasing', async (t) => {
  let last = LWWPair.now(0, 'w');
  let increasing = true;
  for (let i = 1; i < 10_000; i++) {
    const next = LWWPair.now(i, 'w');
    if (next.timestamp <= last.timestamp || last.merge(next) !== next) increasing = false;
    last = next;
  }
  t.ok(increasing, 'each stamp is later than the one before, so the later write wins');
  t.ok(Math.abs(last.timestamp / 1000 - Date.now()) < 60_000, 'stamps are wall-clock microseconds');
});

t.test('constructors reject bad arguments with InvalidArgument', async (t) => {
  const bad: [string, () => unknown][] = [
    ['NaN timestamp', () => new LWWPair(NaN, 'w', 1)],
    ['non-plain value', () => new LWWPair(1, 'w', new Date())],
    ['NaN set element', () => new SetLattice([NaN])],
    ['fractional max-int', () => new MaxIntLattice(1.5)],
    ['negative counter', () => new VectorClock({ a: -1 })],
    ['fractional counter', () => new VectorClock([['a', 0.5]])],
    ['non-lattice map value', () => new MapLattice([['k', 1 as never]])],
    ['non-clock causal clock', () => new SingleKeyCausal({} as never, [])],
    ['NaN priority', () => new PriorityLattice(NaN, 1)],
    ['function in an ordered set', () => new OrderedSetLattice([() => 1])],
  ];
  for (const [name, make] of bad) t.throws(make, InvalidArgument, name);
});

t.test('fromData rejects malformed input with MalformedMessage', async (t) => {
  const bool = new BoolLattice(true);
  const malformed: { readonly [K in LatticeKind]: unknown[] } = {
    lww: [[NaN, 'w', 1], [1, 2, 3], [1, 'w'], { timestamp: 1, writer: 'w', value: 1 }, 'x', [1, 'w', new Map()]],
    set: [[NaN], [{}], 'a', [[1]], null],
    'ordered-set': [[new Date()], 5, { 0: 1 }],
    map: [[['k', 5]], [['k']], [[1, bool]], [['k', bool], ['k', bool]], { k: bool }],
    'max-int': [1.5, NaN, '3', 2 ** 60, null, undefined],
    bool: ['true', 0, null],
    'vector-clock': [[['a', -1]], [['a', 1.5]], { a: 1 }, [['a', 1], ['a', 2]], [[1, 1]], [['a']]],
    'single-causal': [[], [[[], [1]], 'x'], [[{}, []]], [[[['a', 1]], 'v']], [[[['a', -1]], []]], [[[]]]],
    'multi-causal': [[], [[[], [['k', 'clock']], []]], [[[], [['k']], []]], [[[], [], []], [[], []]], [[[], {}, []]]],
    priority: [[NaN, 1], ['1', 2], [1], { priority: 1, value: 2 }],
  };
  for (const { kind, fromData } of LATTICE_TYPES) {
    for (const data of malformed[kind]) t.throws(() => fromData(data), MalformedMessage, `${kind}: ${String(JSON.stringify(data))}`);
  }

  t.doesNotThrow(
    holds(
      fc.property(fc.constantFrom(...LATTICE_TYPES), fc.anything(), ({ kind, fromData }, data) => {
        try {
          return fromData(data).kind === kind;
        } catch (err) {
          return err instanceof MalformedMessage;
        }
      }),
    ),
    'on arbitrary input fromData returns its kind or throws MalformedMessage, nothing else',
  );
});
