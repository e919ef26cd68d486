// The executor's shared-memory cache (docs/architecture.md): a reader returns the
// writer's current value or nothing (never another key's bytes, never a torn
// copy), the arena budget holds, and it holds up with real worker threads
// reading while the writer evicts constantly.

import t from 'tap';
import fc from 'fast-check';
import { Worker } from 'node:worker_threads';
import { SharedCacheReader, SharedCacheWriter, sharedCacheBytes } from '../actors/executor/cache/index.js';
import { joinExpiry, keyHash, splitExpiry } from '../actors/executor/cache/layout.js';
import { eventually } from './fixtures/eventually.js';
import { makeValue, stressKey, type ReaderReport, type ReaderWorkerData } from './fixtures/cache_reader_worker.js';

const encoder = new TextEncoder();
const utf8Length = (s: string) => encoder.encode(s).length;
const equalBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

type Op =
  | { op: 'set'; key: string; value: Uint8Array }
  | { op: 'delete'; key: string }
  | { op: 'get'; key: string };

// A few awkward keys (empty, multi-byte UTF-8, long) plus a numbered pool
// larger than the small index, so both kinds of eviction happen.
const keyArb = fc.oneof(
  fc.constantFrom('', 'a', 'b', 'κλειδί', '🔑', 'user:1', 'user:2', 'x'.repeat(40)),
  fc.integer({ min: 0, max: 40 }).map((i) => `n${i}`),
);
const opsArb = (maxValue: number) =>
  fc.array(
    fc.oneof(
      { weight: 5, arbitrary: fc.record({ op: fc.constant('set' as const), key: keyArb, value: fc.uint8Array({ maxLength: maxValue }) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), key: keyArb }) },
      { weight: 4, arbitrary: fc.record({ op: fc.constant('get' as const), key: keyArb }) },
    ),
    { maxLength: 300, size: 'max' },
  );

/**
 * Runs `ops` on a writer and a reader of one buffer against a Map model and
 * throws on the first disagreement. Single-threaded, so the reader sees
 * exactly what the writer holds.
 */
function runModel(writer: SharedCacheWriter, reader: SharedCacheReader, ops: Op[], arenaBytes: number): void {
  const model = new Map<string, Uint8Array>();
  const check = (key: string, where: string) => {
    const got = reader.get(key);
    const want = model.get(key);
    if (got !== undefined && (want === undefined || !equalBytes(got, want))) {
      throw new Error(`${where}: get(${JSON.stringify(key)}) returned bytes that are not the current value`);
    }
    if ((got !== undefined) !== writer.has(key)) throw new Error(`${where}: reader and writer disagree on ${key}`);
    return got;
  };
  for (const [i, o] of ops.entries()) {
    const where = `op ${i} (${o.op})`;
    if (o.op === 'set') {
      const stored = writer.set(o.key, o.value);
      model.set(o.key, o.value.slice());
      const got = check(o.key, where);
      if (stored !== (got !== undefined)) throw new Error(`${where}: set returned ${stored} but get ${got ? 'hit' : 'missed'}`);
      if (stored !== utf8Length(o.key) + o.value.length <= Math.floor(arenaBytes / 4)) {
        throw new Error(`${where}: set returned ${stored} for ${o.value.length} bytes`);
      }
    } else if (o.op === 'delete') {
      writer.delete(o.key);
      model.delete(o.key);
      if (check(o.key, where) !== undefined) throw new Error(`${where}: deleted key still readable`);
    } else {
      check(o.key, where);
    }
    // The writer's accounting matches what it holds, within the arena.
    let used = 0;
    let held = 0;
    for (const [key, value] of model) {
      if (writer.has(key)) {
        used += utf8Length(key) + value.length;
        held++;
      }
    }
    if (writer.bytesUsed !== used || writer.entries !== held) {
      throw new Error(`${where}: bytesUsed ${writer.bytesUsed}/${used}, entries ${writer.entries}/${held}`);
    }
    if (writer.bytesUsed > arenaBytes) throw new Error(`${where}: bytesUsed ${writer.bytesUsed} > arena ${arenaBytes}`);
  }
}

t.test('model: a get returns the current value or nothing, with eviction', (t) => {
  fc.assert(
    fc.property(opsArb(600), (ops) => {
      // 2 KiB arena and 16 slots (12 entries): both kinds of eviction, and
      // values over 512 bytes are refused.
      const writer = SharedCacheWriter.create({ arenaBytes: 2048, slots: 16 });
      runModel(writer, new SharedCacheReader(writer.buffer), ops, 2048);
    }),
    { numRuns: 300 },
  );
  t.pass('300 random op sequences agree with the model');
  t.end();
});

t.test('model: with room for everything nothing is evicted and every get hits', (t) => {
  fc.assert(
    fc.property(opsArb(400), (ops) => {
      const writer = SharedCacheWriter.create({ arenaBytes: 1 << 20, slots: 256 });
      const reader = new SharedCacheReader(writer.buffer);
      runModel(writer, reader, ops, 1 << 20);
      const model = new Map<string, Uint8Array>();
      for (const o of ops) {
        if (o.op === 'set') model.set(o.key, o.value);
        else if (o.op === 'delete') model.delete(o.key);
      }
      if (writer.evictions !== 0) throw new Error(`${writer.evictions} evictions`);
      for (const [key, value] of model) {
        const got = reader.get(key);
        if (got === undefined || !equalBytes(got, value)) throw new Error(`${key} lost`);
      }
      if (writer.entries !== model.size) throw new Error(`entries ${writer.entries} != ${model.size}`);
    }),
    { numRuns: 200 },
  );
  t.pass('200 random op sequences, no evictions');
  t.end();
});

t.test('model: long churn over many keys (ring wraps and compacts many times)', (t) => {
  let rng = 12345;
  const next = (n: number) => {
    rng = (Math.imul(rng, 1103515245) + 12345) >>> 0;
    return (rng >>> 8) % n;
  };
  const ops: Op[] = [];
  for (let i = 0; i < 30_000; i++) {
    const key = `key-${next(500)}`;
    const r = next(10);
    if (r < 6) ops.push({ op: 'set', key, value: new Uint8Array(next(300)).fill(next(256)) });
    else if (r < 7) ops.push({ op: 'delete', key });
    else ops.push({ op: 'get', key });
  }
  const writer = SharedCacheWriter.create({ arenaBytes: 8192, slots: 64 });
  t.doesNotThrow(() => runModel(writer, new SharedCacheReader(writer.buffer), ops, 8192));
  t.ok(writer.evictions > 1000, `evictions: ${writer.evictions}`);
  t.end();
});

t.test('keys with the same hash and length never return each other', (t) => {
  // Birthday search for an FNV-1a collision among same-length keys.
  const seen = new Map<number, string>();
  let pair: [string, string] | undefined;
  for (let i = 0; pair === undefined && i < 1_000_000; i++) {
    const key = `c${i.toString(36).padStart(5, '0')}`;
    const bytes = encoder.encode(key);
    const h = keyHash(bytes, bytes.length);
    const other = seen.get(h);
    if (other !== undefined) pair = [other, key];
    else seen.set(h, key);
  }
  if (pair === undefined) throw new Error('no collision found');
  const [a, b] = pair;
  t.comment(`colliding keys: ${a} ${b}`);
  const writer = SharedCacheWriter.create({ arenaBytes: 4096 });
  const reader = new SharedCacheReader(writer.buffer);
  t.ok(writer.set(a, Uint8Array.of(1)));
  t.equal(reader.get(b), undefined, 'b is not a');
  t.ok(writer.set(b, Uint8Array.of(2)));
  t.same([...(reader.get(a) ?? [])], [1]);
  t.same([...(reader.get(b) ?? [])], [2]);
  writer.delete(a);
  t.equal(reader.get(a), undefined);
  t.same([...(reader.get(b) ?? [])], [2], 'b survives the backward shift');
  t.end();
});

t.test('a get returns a copy the caller owns', (t) => {
  const writer = SharedCacheWriter.create({ arenaBytes: 4096 });
  const reader = new SharedCacheReader(writer.buffer);
  const input = Uint8Array.of(1, 2, 3);
  writer.set('k', input);
  input[0] = 9; // the writer copied it
  const got = reader.get('k');
  t.ok(got && !(got.buffer instanceof SharedArrayBuffer), 'not a view of shared memory');
  if (got) got[1] = 9;
  t.same([...(reader.get('k') ?? [])], [1, 2, 3]);
  t.equal(reader.hits, 2);
  t.equal(reader.get('absent'), undefined);
  t.equal(reader.misses, 1);
  t.equal(writer.sharedHits, 0, 'a reader made without shareHits keeps its hits to itself');
  t.throws(() => new SharedCacheReader(new SharedArrayBuffer(1024)), TypeError, 'a foreign buffer is refused');
  t.end();
});

t.test('an entry with an expiry is a miss from then on, whatever the writer does', async (t) => {
  const writer = SharedCacheWriter.create({ arenaBytes: 4096 });
  const reader = new SharedCacheReader(writer.buffer);
  const expiresAt = Date.now() + 200;
  writer.set('brief', Uint8Array.of(1), expiresAt);
  writer.set('stays', Uint8Array.of(2));
  t.same([...(reader.get('brief') ?? [])], [1]);
  t.equal(writer.expiresAt('brief'), expiresAt);
  t.equal(writer.expiresAt('stays'), 0);
  await eventually('the reader misses the expired entry', () => reader.get('brief') === undefined, 5000);
  t.ok(Date.now() >= expiresAt, 'not before its expiry');
  t.ok(writer.has('brief'), 'though the writer has not dropped it');
  t.same([...(reader.get('stays') ?? [])], [2]);
  writer.set('brief', Uint8Array.of(3));
  t.same([...(reader.get('brief') ?? [])], [3], 'set again without an expiry, it is served again');
  // Expiries beyond 32 bits of milliseconds survive the two Int32 fields.
  for (const ms of [1, 2 ** 32 - 1, 2 ** 32, Date.now() + 1, 2 ** 52 + 3]) t.equal(joinExpiry(...splitExpiry(ms)), ms, `${ms} round-trips`);
});

t.test('budget: bytesUsed stays within the arena and large values are refused', (t) => {
  const arenaBytes = 10_000;
  const writer = SharedCacheWriter.create({ arenaBytes });
  t.equal(writer.buffer.byteLength, sharedCacheBytes({ arenaBytes }));
  t.throws(() => SharedCacheWriter.create({ arenaBytes: 10 }), RangeError, 'an arena too small to use');
  t.throws(() => SharedCacheWriter.create({ arenaBytes: 4096, slots: 0 }), RangeError);
  t.ok(writer.set('k', new Uint8Array(2499)), 'key + value = a quarter of the arena fits');
  t.notOk(writer.set('k', new Uint8Array(2500)), 'one byte more is refused');
  t.notOk(writer.has('k'), 'and the older value is dropped, not left stale');
  t.notOk(writer.set('huge', new Uint8Array(1 << 20)));
  let maxUsed = 0;
  let refused = 0;
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 3000 })), { maxLength: 200 }), (sets) => {
      for (const [k, size] of sets) {
        const key = `b${k}`;
        const stored = writer.set(key, new Uint8Array(size));
        if (stored !== utf8Length(key) + size <= arenaBytes / 4) throw new Error(`set ${size} returned ${stored}`);
        if (!stored) refused++;
        if (writer.bytesUsed > arenaBytes) throw new Error(`bytesUsed ${writer.bytesUsed}`);
        maxUsed = Math.max(maxUsed, writer.bytesUsed);
      }
    }),
  );
  t.ok(maxUsed <= arenaBytes, `max bytesUsed ${maxUsed} of ${arenaBytes}`);
  t.ok(refused > 0 && writer.evictions > 0, `${refused} refused, ${writer.evictions} evicted`);
  t.end();
});

/** Messages from a worker, in order, as promises; rejects on error or early exit. */
function inbox(worker: Worker): () => Promise<unknown> {
  const queued: unknown[] = [];
  const waiting: { resolve: (m: unknown) => void; reject: (e: Error) => void }[] = [];
  let failure: Error | undefined;
  worker.on('message', (m) => {
    const w = waiting.shift();
    if (w) w.resolve(m);
    else queued.push(m);
  });
  const fail = (e: Error) => {
    failure = e;
    for (const w of waiting.splice(0)) w.reject(e);
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`worker exited (${code})`)));
  return () =>
    queued.length > 0
      ? Promise.resolve(queued.shift())
      : failure !== undefined
        ? Promise.reject(failure)
        : new Promise((resolve, reject) => waiting.push({ resolve, reject }));
}

t.test('stress: 3 reader threads never see a torn or foreign value while the writer evicts constantly', async (t) => {
  const READERS = 3;
  const KEYS = 256;
  const DURATION_MS = 2000;
  // 64 KiB for ~256 keys of up to ~1.5 KiB: most sets evict something.
  const writer = SharedCacheWriter.create({ arenaBytes: 64 * 1024 });
  const stop = new SharedArrayBuffer(4);
  const workers = Array.from({ length: READERS }, (_, i) => {
    const workerData: ReaderWorkerData = { kind: 'cache-reader', buffer: writer.buffer, stop, keyCount: KEYS, seed: 0x9e3779b9 * (i + 1) };
    return new Worker(new URL('./fixtures/cache_reader_worker.js', import.meta.url), { workerData });
  });
  const inboxes = workers.map(inbox);
  const exited = workers.map((w) => new Promise((resolve) => w.once('exit', resolve)));
  t.teardown(() => {
    Atomics.store(new Int32Array(stop), 0, 1);
  });
  // Fill before the readers start, so they hit from the first get.
  const versions = new Array<number>(KEYS).fill(0);
  let rng = 777;
  const next = (n: number) => {
    rng = (Math.imul(rng, 1103515245) + 12345) >>> 0;
    return (rng >>> 8) % n;
  };
  const setKey = (i: number) => writer.set(stressKey(i), makeValue(stressKey(i), ++versions[i]!, next(1500)));
  for (let i = 0; i < KEYS; i++) setKey(i);
  t.same(await Promise.all(inboxes.map((next) => next())), Array(READERS).fill('ready'), 'readers started');

  let sets = 0;
  let deletes = 0;
  const deadline = performance.now() + DURATION_MS;
  while (performance.now() < deadline) {
    for (let n = 0; n < 64; n++) {
      const i = next(KEYS);
      if (next(8) === 0) {
        writer.delete(stressKey(i));
        deletes++;
      } else {
        setKey(i);
        sets++;
      }
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  Atomics.store(new Int32Array(stop), 0, 1);
  const reports = (await Promise.all(inboxes.map((next) => next()))) as ReaderReport[];
  await Promise.all(exited);

  t.comment(`writer: ${sets} sets, ${deletes} deletes, ${writer.evictions} evictions, ${writer.entries} entries, ${writer.bytesUsed} B used`);
  t.ok(writer.evictions > 1000, 'eviction was constant');
  for (const [i, r] of reports.entries()) {
    t.comment(`reader ${i}: ${r.gets} gets, ${r.hits} hits, ${r.misses} misses, ${r.torn} torn, ${r.wrong} wrong, ${r.retries} retries`);
    t.equal(r.torn, 0, `reader ${i}: no torn values`);
    t.equal(r.wrong, 0, `reader ${i}: no values of another key`);
    t.equal(r.hits + r.misses, r.gets, `reader ${i}: every get counted`);
    t.ok(r.hits >= 10_000, `reader ${i}: ${r.hits} hits`);
  }
  t.equal(writer.sharedHits, reports.reduce((sum, r) => sum + r.hits, 0), 'the hit counter the readers share lost none of their hits');
});

t.test('micro: reader get of a cached value, ns/op (printed, not asserted)', (t) => {
  const writer = SharedCacheWriter.create({ arenaBytes: 8 << 20 });
  const reader = new SharedCacheReader(writer.buffer);
  writer.set('value:64', new Uint8Array(64).fill(1));
  writer.set('value:1MiB', new Uint8Array(1 << 20).fill(2));
  const measure = (key: string, iterations: number) => {
    let bytes = 0;
    for (let i = 0; i < iterations / 10; i++) bytes += reader.get(key)?.length ?? 0; // warm up
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) bytes += reader.get(key)?.length ?? 0;
    const ns = Number(process.hrtime.bigint() - start) / iterations;
    t.ok(bytes > 0, `${key} hits`);
    return ns;
  };
  t.comment(`get 64 B: ${measure('value:64', 500_000).toFixed(0)} ns/op`);
  t.comment(`get 1 MiB: ${measure('value:1MiB', 2_000).toFixed(0)} ns/op`);
  t.end();
});
