// The shard's durable store: merges as the in-memory store did, refuses to mix
// kinds without changing anything, and keeps every acknowledged write across a
// reopen and across a real SIGKILL of the writing process.

import t from 'tap';
import { spawnTied } from '../bin/child_process.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { open } from 'lmdb';
import { ShardStore } from '../kvs-node/storage/index.js';
import type { Durability } from '../lib/config.js';
import { encode } from '../lib/codec/index.js';
import { Closed, DataDirLocked, InvalidArgument, LatticeTypeMismatch } from '../lib/errors.js';
import { LWWPair, MaxIntLattice, SetLattice } from '../lib/lattice/index.js';

const WRITER = fileURLToPath(new URL('./fixtures/store_writer.js', import.meta.url));

const root = await mkdtemp(join(tmpdir(), 'shard-store-'));
t.teardown(() => rm(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `shard-${dirs++}`);

function setOf(store: ShardStore, key: string): ReadonlySet<unknown> {
  const v = store.get(key);
  if (!(v instanceof SetLattice)) throw new Error(`${key} is not a set`);
  return v.reveal();
}

for (const durability of ['none', 'group', 'sync'] as const) {
  t.test(`${durability}: put, get, merge, delete`, async (t) => {
    const store = await ShardStore.open({ durability, dataDir: durability === 'none' ? undefined : freshDir() });
    t.teardown(() => store.close());
    t.equal(store.durability, durability);
    t.equal(store.get('x'), undefined);
    t.equal(((await store.put('x', new MaxIntLattice(5))) as MaxIntLattice).value, 5);
    t.equal(((await store.put('x', new MaxIntLattice(3))) as MaxIntLattice).value, 5, 'max wins');
    t.equal((store.get('x') as MaxIntLattice).value, 5);
    await store.put('s', new SetLattice(['a']));
    const merged = await store.put('s', new SetLattice(['b', 1]));
    t.same([...(merged as SetLattice).reveal()].sort(), [1, 'a', 'b']);
    t.ok(store.has('s'));
    t.same([...store.keys()].sort(), ['s', 'x']);
    t.equal([...store.entries()].length, 2);
    t.equal(store.size, 2);
    await store.delete('x');
    await store.delete('never-there');
    t.notOk(store.has('x'));
    t.equal(store.size, 1);
  });

  t.test(`${durability}: a kind mismatch changes nothing`, async (t) => {
    const dataDir = durability === 'none' ? undefined : freshDir();
    const store = await ShardStore.open({ durability, dataDir });
    await store.put('k', new MaxIntLattice(7));
    await t.rejects(store.put('k', new SetLattice(['a'])), LatticeTypeMismatch);
    t.equal((store.get('k') as MaxIntLattice).value, 7, 'memory unchanged');
    await store.close();
    if (!dataDir) return;
    const again = await ShardStore.open({ durability, dataDir });
    t.teardown(() => again.close());
    t.equal((again.get('k') as MaxIntLattice).value, 7, 'disk unchanged');
  });

  t.test(`${durability}: putMany reports per-item errors`, async (t) => {
    const store = await ShardStore.open({ durability, dataDir: durability === 'none' ? undefined : freshDir() });
    t.teardown(() => store.close());
    await store.put('n', new MaxIntLattice(1));
    const results = await store.putMany([
      { key: 'a', value: new MaxIntLattice(1) },
      { key: 'n', value: new SetLattice(['oops']) },
      { key: '', value: new MaxIntLattice(1) },
      { key: 'x'.repeat(5000), value: new MaxIntLattice(1) },
      { key: 'n', value: new MaxIntLattice(9) },
      { key: 'a', value: new MaxIntLattice(4) },
    ]);
    t.equal(results.length, 6);
    t.match(results[0], { merged: { value: 1 } });
    t.type((results[1] as { error: unknown }).error, LatticeTypeMismatch);
    t.type((results[2] as { error: unknown }).error, InvalidArgument);
    t.type((results[3] as { error: unknown }).error, InvalidArgument);
    t.match(results[4], { merged: { value: 9 } });
    t.match(results[5], { merged: { value: 4 } });
    t.equal(store.size, 2);
  });
}

t.test('none needs no dir; group and sync do', async (t) => {
  const store = await ShardStore.open({ durability: 'none' });
  await store.put('k', LWWPair.now('v', 'me'));
  t.equal(store.get('k')?.reveal(), 'v');
  await store.close();
  await t.rejects(store.put('k', LWWPair.now('w', 'me')), Closed);
  await t.rejects(ShardStore.open({ durability: 'group' }), InvalidArgument);
  await t.rejects(ShardStore.open({ durability: 'sync' }), InvalidArgument);
  await t.rejects(ShardStore.open({ durability: 'fast' as Durability, dataDir: freshDir() }), InvalidArgument);
});

for (const durability of ['group', 'sync'] as const) {
  t.test(`${durability}: reopen has every acknowledged put, merged`, async (t) => {
    const dataDir = freshDir();
    const store = await ShardStore.open({ durability, dataDir });
    const puts: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      puts.push(store.put(`k${i}`, new MaxIntLattice(i)), store.put('all', new SetLattice([i])));
    }
    puts.push(store.put('k0', new MaxIntLattice(1000)), store.put('gone', new MaxIntLattice(1)));
    await Promise.all(puts);
    await store.delete('gone');
    await store.put('ünïcode \u{1F600}', new SetLattice(['x']));
    await store.close();

    const again = await ShardStore.open({ durability, dataDir });
    t.teardown(() => again.close());
    t.same(again.openReport, { loaded: 202, skipped: 0, ms: again.openReport.ms });
    t.equal((again.get('k0') as MaxIntLattice).value, 1000);
    for (let i = 1; i < 200; i++) t.equal((again.get(`k${i}`) as MaxIntLattice).value, i, `k${i}`);
    t.equal(setOf(again, 'all').size, 200);
    t.notOk(again.has('gone'), 'deletes are durable too');
    t.ok(again.has('ünïcode \u{1F600}'), 'keys round-trip as UTF-8');
  });
}

for (const durability of ['none', 'group'] as const) {
  t.test(`${durability}: a delete leaves a tombstone that older records cannot undo, a later put wins, and it is collected`, async (t) => {
    const dataDir = durability === 'none' ? undefined : freshDir();
    const store = await ShardStore.open({ durability, dataDir });
    await store.put('k', new SetLattice(['old']));
    const before = store.record('k')!;
    await store.delete('k');
    t.equal(store.get('k'), undefined, 'deleted');
    t.equal(store.size, 0, 'a tombstone is not a value');
    t.equal(store.tombstones, 1);
    t.same([...store.recordKeys()], ['k'], 'but it is handed off like one');
    const tomb = store.record('k')!;
    t.ok(tomb.deletedAt >= before.at && tomb.value === undefined, 'the tombstone is not older than the value it deletes');
    // A replica that missed the delete sends the value back.
    t.same(await store.mergeRecords([{ key: 'k', record: before }]), [{ merged: undefined }]);
    t.equal(store.get('k'), undefined, 'the old value stays deleted');
    // A value written after the delete, from another replica, is kept.
    await store.mergeRecords([{ key: 'other', record: { at: 0, deletedAt: 5_000 } }, { key: 'other', record: { value: new SetLattice(['later']), at: 6_000, deletedAt: 0 } }]);
    t.same([...(store.get('other')!.reveal() as Set<string>)], ['later']);
    // A put here after the delete wins, even in the same millisecond.
    await store.put('k', new SetLattice(['new']));
    t.same([...(store.get('k')!.reveal() as Set<string>)], ['new']);
    t.ok(store.record('k')!.at > tomb.deletedAt);
    await store.delete('gone');
    if (dataDir) {
      await store.close();
      const again = await ShardStore.open({ durability, dataDir });
      t.same([...(again.get('k')!.reveal() as Set<string>)], ['new'], 'the value after the delete survives a reopen');
      t.equal(again.tombstones, 3, 'so do the tombstones');
      await again.mergeRecords([{ key: 'gone', record: { value: new SetLattice(['x']), at: 1, deletedAt: 0 } }]);
      t.equal(again.get('gone'), undefined, 'an old value stays deleted after a reopen');
      await again.put('moved', new SetLattice(['m']));
      await again.forget('moved');
      t.equal(again.record('moved'), undefined, 'a key no longer replicated is forgotten, without a tombstone');
      t.equal(await again.collectTombstones(Date.now() + 1), 3, 'tombstones are collected after their retention');
      await again.close();
      const third = await ShardStore.open({ durability, dataDir });
      t.teardown(() => third.close());
      t.equal(third.tombstones, 0, 'collected on disk too');
      t.notOk(third.has('moved'), 'forgotten on disk too');
      t.same([...third.recordKeys()].sort(), ['k', 'other'], 'values stay');
    } else {
      t.teardown(() => store.close());
      t.equal(await store.collectTombstones(Date.now() + 1), 3);
      t.equal(store.tombstones, 0);
    }
  });
}

t.test('an undecodable value is skipped at open, not fatal', async (t) => {
  const dataDir = freshDir();
  const store = await ShardStore.open({ durability: 'group', dataDir });
  await store.put('good', new MaxIntLattice(3));
  await store.close();
  const raw = open<Buffer, Buffer>({ path: dataDir, encoding: 'binary', keyEncoding: 'binary' });
  await raw.put(Buffer.from('garbage'), Buffer.from([0xff, 0x00, 0x13]));
  await raw.put(Buffer.from('not-a-lattice'), Buffer.from(encode({ a: 1 })));
  await raw.close();

  const again = await ShardStore.open({ durability: 'group', dataDir });
  t.teardown(() => again.close());
  t.match(again.openReport, { loaded: 1, skipped: 2 });
  t.equal((again.get('good') as MaxIntLattice).value, 3);
  t.notOk(again.has('garbage'));
});

/** Runs the writer until it has acknowledged `atLeast` keys, SIGKILLs it, and returns every key it acknowledged. */
async function writeThenKill(dataDir: string, durability: Durability, atLeast: number): Promise<string[]> {
  const child = spawnTied(process.execPath, [WRITER, dataDir, durability], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const acked: string[] = [];
  // Lines still in the pipe after the kill were acknowledged too: read to the end.
  const done = new Promise<void>((resolve) => createInterface({ input: child.stdout! }).on('close', resolve));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, sig) => resolve(sig ?? code)));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    acked.push(line);
    if (acked.length === atLeast) child.kill('SIGKILL');
  });
  const how = await exited;
  await done;
  if (how !== 'SIGKILL') throw new Error(`writer exited with ${String(how)} before it was killed: ${stderr}`);
  return acked;
}

for (const durability of ['group', 'sync'] as const) {
  t.test(`${durability}: every key acknowledged before a SIGKILL survives it`, async (t) => {
    const dataDir = freshDir();
    const acked = await writeThenKill(dataDir, durability, 300);
    t.ok(acked.length >= 300, `${acked.length} keys acknowledged`);
    const store = await ShardStore.open({ durability, dataDir });
    t.teardown(() => store.close());
    t.equal(store.openReport.skipped, 0);
    const missing = acked.filter((key) => {
      const n = Number(key.split('-')[1]);
      return (store.get(key) as MaxIntLattice | undefined)?.value !== n;
    });
    t.same(missing, [], 'every acknowledged key has its value');
    const inSet = setOf(store, 'acked');
    t.same(acked.filter((key) => !inSet.has(key)), [], 'every acknowledged key is in the merged set');
  });
}

t.test('a data directory is held by one process: a second is DataDirLocked naming it and the holder, until the holder dies', async (t) => {
  const dataDir = freshDir();
  const first = await ShardStore.open({ durability: 'group', dataDir, holder: 'kvs shard first' });
  const again = await ShardStore.open({ durability: 'group', dataDir }).catch((err: unknown) => err);
  t.type(again, DataDirLocked, 'a second store in the same process');
  t.match((again as DataDirLocked).message, dataDir, 'the message names the directory');
  t.match((again as DataDirLocked).data, { dir: dataDir, pid: process.pid, holder: 'kvs shard first' }, 'and the holder');
  await first.close();
  const reopened = await ShardStore.open({ durability: 'group', dataDir });
  await reopened.close();
  t.pass('closing releases it');

  // Another process holds it; SIGKILLed, it leaves nothing that blocks the next.
  const child = spawnTied(process.execPath, [WRITER, dataDir, 'group'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.teardown(() => void child.kill('SIGKILL'));
  await new Promise((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  const locked = await ShardStore.open({ durability: 'group', dataDir }).catch((err: unknown) => err);
  t.type(locked, DataDirLocked, 'while another process holds it');
  t.match((locked as DataDirLocked).data, { dir: dataDir, pid: child.pid }, 'naming that process');
  child.kill('SIGKILL');
  await exited;
  const after = await ShardStore.open({ durability: 'group', dataDir });
  t.teardown(() => after.close());
  t.ok(after.openReport.loaded > 0, 'after a kill -9 of the holder, the next one opens it');
});
