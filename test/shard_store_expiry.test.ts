// Key lifetimes in the shard's store: an expiry is kept with the record (on
// disk too), merges as a max lattice, and once due becomes the key's
// tombstone, so nothing written before it comes back, from a replica's
// record or from the shard's own disk after a restart.

import t from 'tap';
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShardStore } from '../kvs-node/storage/index.js';
import { expiryOf } from '../lib/kvs/expiry.js';
import { parseRecords, recordToWire, type KeyRecord } from '../lib/kvs/protocol.js';
import { SetLattice } from '../lib/lattice/index.js';
import { eventually } from './fixtures/eventually.js';

const root = await mkdtemp(join(tmpdir(), 'shard-expiry-'));
t.teardown(() => rm(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `shard-${dirs++}`);

const HOUR = 3_600_000;
const elements = (store: ShardStore, key: string): string[] => [...((store.get(key)?.reveal() as ReadonlySet<string> | undefined) ?? [])].sort();
const set = (...xs: string[]): SetLattice<string> => new SetLattice(xs);

for (const durability of ['none', 'group'] as const) {
  t.test(`${durability}: a key put with an expiry reads as absent once it is due, and becomes a tombstone at the expiry`, async (t) => {
    const dataDir = durability === 'none' ? undefined : freshDir();
    const store = await ShardStore.open({ durability, dataDir });
    const expiresAt = Date.now() + 300;
    await store.put('k', set('a'), expiresAt);
    t.same(elements(store, 'k'), ['a']);
    t.equal(store.expiresAt('k'), expiresAt);
    t.equal(store.record('k')!.expiresAt, expiresAt, 'replicas are sent the expiry with the value');
    await eventually('the key reads as absent', () => store.get('k') === undefined, 5000);
    t.ok(Date.now() >= expiresAt, 'not before its expiry');
    t.same(store.record('k'), { at: 0, deletedAt: expiresAt }, 'what replicas get now is a tombstone stamped at the expiry');
    await store.expireDue();
    t.equal(store.size, 0, 'the value is gone from memory');
    t.equal(store.expiring, 0);
    t.equal(store.tombstones, 1);
    await store.close();
    if (!dataDir) return;
    const again = await ShardStore.open({ durability, dataDir });
    t.teardown(() => again.close());
    t.equal(again.get('k'), undefined, 'and from disk');
    t.same(again.record('k'), { at: 0, deletedAt: expiresAt });
  });
}

t.test('group: a shard restarted after the expiry passed while it was down does not bring the key back', async (t) => {
  const dataDir = freshDir();
  const store = await ShardStore.open({ durability: 'group', dataDir });
  const expiresAt = Date.now() + 300;
  await store.put('k', set('a'), expiresAt);
  await store.put('kept', set('b'));
  await store.close(); // before the expiry: the disk holds the value and its expiry
  await eventually('the expiry passed', () => Date.now() > expiresAt, 5000);
  const again = await ShardStore.open({ durability: 'group', dataDir });
  t.teardown(() => again.close());
  t.equal(again.get('k'), undefined, 'the expiry was on disk with the value');
  t.same(elements(again, 'kept'), ['b']);
  t.same(again.record('k'), { at: 0, deletedAt: expiresAt });
  // A replica that missed the put with the ttl sends the value back, written before the expiry.
  await again.mergeRecords([{ key: 'k', record: { value: set('a', 'z'), at: expiresAt - 100, deletedAt: 0 } }]);
  t.equal(again.get('k'), undefined, 'a value written before the expiry stays gone');
});

t.test('how an expiry merges with later writes and records', async (t) => {
  const store = await ShardStore.open({ durability: 'none' });
  t.teardown(() => store.close());
  const now = Date.now();

  await store.put('later-wins', set('a'), now + HOUR);
  await store.mergeRecords([{ key: 'later-wins', record: { value: set('b'), at: now, deletedAt: 0, expiresAt: now + 2 * HOUR } }]);
  t.equal(store.expiresAt('later-wins'), now + 2 * HOUR, 'of two expiries, the later');
  await store.put('later-wins', set('c'), now + HOUR / 2);
  t.equal(store.expiresAt('later-wins'), now + 2 * HOUR, 'a put with a shorter ttl does not bring it forward');
  await store.put('later-wins', set('d'));
  t.equal(store.expiresAt('later-wins'), now + 2 * HOUR, 'a put without a ttl keeps it');
  t.same(elements(store, 'later-wins'), ['a', 'b', 'c', 'd'], 'the values merge as ever');
  await store.delete('later-wins');
  t.equal(store.expiresAt('later-wins'), now + 2 * HOUR, 'a delete does not cancel it either');
  await store.put('later-wins', set('e'));
  t.same(elements(store, 'later-wins'), ['e'], 'a put after the delete is kept');
  t.equal(store.record('later-wins')!.expiresAt, now + 2 * HOUR, 'until the expiry set before the delete');

  t.equal(await store.put('late', set('x'), now - 1000), undefined, 'a put that arrives after its own expiry leaves no value');
  t.equal(store.get('late'), undefined);
  t.equal(store.record('late')!.value, undefined, 'it deleted the key');

  // A key that expired (a record from long ago), then a put: a fresh start, without the old expiry.
  await store.mergeRecords([{ key: 'again', record: { value: set('old'), at: 1000, deletedAt: 0, expiresAt: 2000 } }]);
  t.equal(store.get('again'), undefined);
  await store.put('again', set('new'));
  t.same(elements(store, 'again'), ['new']);
  t.equal(store.expiresAt('again'), 0, 'a put after the expiry does not expire');

  // A value written after the expiry by its writer's clock (a replica whose
  // clock is ahead) says the key expired there: the older values go first.
  await store.put('ahead', set('old'), now + HOUR);
  await store.mergeRecords([{ key: 'ahead', record: { value: set('new'), at: now + HOUR + 5, deletedAt: 0 } }]);
  t.same(elements(store, 'ahead'), ['new']);
  t.equal(store.expiresAt('ahead'), 0);
  t.equal(store.record('ahead')!.deletedAt, now + HOUR, 'the tombstone is stamped at the expiry');
});

t.test('a ttl becomes an expiry in whole milliseconds, never before the ttl', async (t) => {
  t.equal(expiryOf({ ttlMs: 0.5 }, 1000), 1001);
  t.equal(expiryOf({ ttlMs: 300 }, 1000), 1300);
  t.equal(expiryOf({}, 1000), 0, 'no ttl, no expiry');
  t.throws(() => expiryOf({ ttlMs: 0 }), { code: 'INVALID_ARGUMENT' });
});

t.test('records carry the expiry on the wire, only when there is one', async (t) => {
  const withExpiry: KeyRecord = { value: set('a'), at: 5, deletedAt: 0, expiresAt: 9 };
  const plain: KeyRecord = { value: set('a'), at: 5, deletedAt: 0 };
  t.equal(recordToWire('k', withExpiry).length, 5);
  t.equal(recordToWire('k', plain).length, 4, 'as before expiries existed');
  t.same(parseRecords({ records: [recordToWire('k', withExpiry), recordToWire('p', plain)] }), [
    { key: 'k', record: withExpiry },
    { key: 'p', record: plain },
  ]);
  t.throws(() => parseRecords({ records: [['k', null, 0, 0, -1]] }), { code: 'MALFORMED_MESSAGE' });
});

/** The record a fresh store ends with after merging `records` in this order. */
async function after(records: KeyRecord[]): Promise<KeyRecord | undefined> {
  const store = await ShardStore.open({ durability: 'none' });
  try {
    for (const record of records) await store.mergeRecords([{ key: 'k', record }]);
    await store.expireDue();
    return store.record('k');
  } finally {
    await store.close();
  }
}

/** Puts of set elements, each stamped before `expiresBy`, some with an expiry between `expiresBy` and `expiresBy + 1000`. */
const puts = (expiresBy: number) =>
  fc.array(
    fc.record({
      element: fc.string({ maxLength: 3 }),
      at: fc.integer({ min: expiresBy - 1000, max: expiresBy - 1 }),
      expiresIn: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
    }),
    { minLength: 1, maxLength: 5 },
  );
const toRecords = (expiresBy: number, ps: { element: string; at: number; expiresIn: number | undefined }[]): KeyRecord[] =>
  ps.map(({ element, at, expiresIn }) => ({ value: set(element), at, deletedAt: 0, ...(expiresIn === undefined ? {} : { expiresAt: expiresBy + expiresIn }) }));

t.test('replicas agree whatever order they merge records in: the expiry is a max lattice', async (t) => {
  const future = Date.now() + HOUR;
  await fc.assert(
    fc.asyncProperty(puts(future), async (ps) => {
      const records = toRecords(future, ps);
      const expected = await after(records);
      for (const order of [[...records].reverse(), [...records.slice(1), records[0]!]]) {
        const got = await after(order);
        if (got?.expiresAt !== expected?.expiresAt || !got?.value?.equals(expected!.value!)) return false;
      }
      // Every element is there, until the latest expiry.
      const latest = Math.max(0, ...records.map((r) => r.expiresAt ?? 0));
      return (expected?.expiresAt ?? 0) === latest && (expected!.value!.reveal() as Set<string>).size === new Set(ps.map((p) => p.element)).size;
    }),
    { numRuns: 100 },
  );
  // Expiries all passed (times from 1970): the key is deleted at the latest, whatever the order.
  const past = 10_000;
  await fc.assert(
    fc.asyncProperty(puts(past), async (ps) => {
      const records = toRecords(past, ps);
      const latest = Math.max(0, ...records.map((r) => r.expiresAt ?? 0));
      for (const order of [records, [...records].reverse()]) {
        const got = await after(order);
        if (latest === 0 && got?.value === undefined) return false;
        if (latest > 0 && (got?.value !== undefined || got?.deletedAt !== latest)) return false;
      }
      return true;
    }),
    { numRuns: 100 },
  );
  t.pass('agreed');
});
