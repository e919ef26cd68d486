// The sweep that drops keys a shard no longer replicates: only keys every
// replica confirmed, only on a ring that stayed the same, again later for
// the rest.

import t from 'tap';
import { UnownedSweep, type SweepHost } from '../kvs-node/unowned_sweep.js';
import { eventually } from './fixtures/eventually.js';

function host(unowned: string[]) {
  const state = {
    version: 1,
    settled: true,
    held: new Set(unowned),
    confirmable: new Set<string>(),
    dropped: [] as string[][],
    confirms: 0,
    versionReads: 0,
    /** Resolves a confirm when set; otherwise confirms at once. */
    gate: undefined as Promise<void> | undefined,
  };
  const h: SweepHost = {
    ringVersion: () => (state.versionReads++, state.version),
    settled: () => state.settled,
    unowned: () => [...state.held],
    confirm: async (keys) => {
      state.confirms++;
      await state.gate;
      return keys.filter((k) => state.confirmable.has(k));
    },
    drop: async (keys) => {
      state.dropped.push(keys);
      for (const k of keys) state.held.delete(k);
    },
    onError: (err) => t.fail(String(err)),
  };
  return { state, h };
}

t.test('drops what every replica confirmed, keeps and retries the rest', async (t) => {
  const { state, h } = host(['a', 'b']);
  state.confirmable.add('a');
  const sweep = new UnownedSweep(h, 20);
  t.teardown(() => sweep.stop());
  sweep.ringChanged();
  await eventually('a is dropped', () => state.dropped.length === 1);
  t.same(state.dropped, [['a']], 'b, not confirmed, is kept');
  state.confirmable.add('b');
  await eventually('b is dropped on a later sweep', () => state.dropped.length === 2);
  t.same(state.dropped[1], ['b']);
});

t.test('a ring change while confirming cancels the drops; nothing while not settled', async (t) => {
  const { state, h } = host(['a']);
  state.confirmable.add('a');
  let open: () => void = () => {};
  state.gate = new Promise((resolve) => (open = resolve));
  const sweep = new UnownedSweep(h, 20);
  t.teardown(() => sweep.stop());
  sweep.ringChanged();
  await eventually('a confirm started', () => state.confirms === 1);
  state.version = 2;
  state.settled = false;
  const reads = state.versionReads;
  open();
  await eventually('the sweep decided on what it confirmed', () => state.versionReads > reads);
  t.same(state.dropped, [], 'no drop on a changed ring');
  state.gate = undefined;
  await eventually('it looks again, and waits while not settled', () => state.versionReads > reads + 2);
  t.same(state.dropped, [], 'nothing dropped while not settled');
  state.settled = true;
  await eventually('dropped once settled on the new ring', () => state.dropped.length === 1);
  t.same(state.dropped, [['a']]);
});
