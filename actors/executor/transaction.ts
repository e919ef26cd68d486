// Read-atomic transactions (after AFT) for calls made with `atomic: true`.
// A transaction's writes are buffered, then committed in an order that lets
// readers never see part of a write set:
//   1. each key's new version under `__cb/ver/<tx>/<key>`, each key's mark,
//      the commit record `__cb/tx/<tx>` (its time and keys), and the
//      commit's intent (commit_intents.ts: how the collector finds it), at
//      once;
//   2. the transaction in each key's version index `__cb/idx/<key>/<epoch>`
//      (tx → its commit time, its keys and its version of the key), sent
//      within the commit window of the intent or not at all; a transaction
//      of one key needs no version copy (no reader can have read another
//      key from it), so its marks and record go with step 2, and step 1 is
//      the intent alone;
//   3. the value merged into the key itself, for readers that did not ask
//      for atomicity (a plain value stamped with the commit's time and id,
//      so the plain keys end as the newest commit left them).
// Each version holds the key's whole state at its commit (a plain value as
// written; another lattice merged with the installed value), and the index
// carries it, so a read is usually one round trip. For lattices that merge,
// the installed value can miss a transaction committing at the same time, so
// a reader can see that transaction's merge into one key and not into
// another: read atomicity is exact for plain (last-writer-wins) values.
// Transactions are ordered by commit time, then id (two committers' clocks
// can give one time). A reader keeps the versions it has read. For a key it
// picks the newest indexed version that does not fracture what it read
// before: no version of a transaction that also wrote a key it already read
// in an older version, and nothing older than a version written by a
// transaction it already read from (its floor, read from step 1's copy
// when the index does not show it yet); a floor bounds the choice from
// below, it does not end the search for newer versions that fit. A key's
// plain value is read only when no commit has reached it, checked again
// after the read. The index epochs a
// reader looks at are on its own clock, plus those up to the key's mark
// when a committer's clock is ahead.
// A read never answers absent for a key it knows a transaction wrote (its
// floor's, or one this executor has seen marked): what the KVS does not
// serve is asked of every replica and waited for a little, and then the
// read fails with TransactionConflict, as it does when no kept version fits.
// A committer marks its transaction done after the plain writes. In case it
// died before, the collector (collector.ts) looks at every commit's intent
// once the commit window has passed, and redoes the commit from step 2
// (roll_forward.ts) if it was indexed and not marked done, or leaves it
// unseen if it was never indexed; a reader that reads an old version of a
// transaction not marked done does the same sooner (`finishIfOld`). The
// collector then files the commit's versions, record and index epochs for
// deletion three minutes after (lib/kvs/delayed_deletes.ts). Every
// attempt of an exactly-once call (the same transaction) commits at the one
// time its effect log decided: the time (on its executor's TxClock) of the
// attempt whose proposal the decider took.
// The reader sees its own writes. Mixing atomic and plain writes on a key is
// not supported: atomic readers see only committed transactions' writes.
// In an atomic DAG call the transaction travels: each stage hands its reads
// (with their values) and buffered writes on with its result (`carried`),
// the next stage picks them up (`absorb`), and only the sink commits.
// Parallel branches do not see each other's reads, so two branches reading
// one key may pick different versions; each branch is read-atomic with
// everything upstream of it.
// A serializable call (locks.ts) is one of these transactions whose every
// key is locked before it is read or written: under the locks the newest
// version is the one read, and the commit seals its locks (`beforeIndex`,
// after its intent, which names them, is filed) before the index entries
// make it visible; a seal holds until the commit is complete or collected.

import type { KvsClient } from '../../lib/client/kvs_client.js';
import { MalformedMessage, TransactionConflict } from '../../lib/errors.js';
import { LWWPair, MapLattice, MaxIntLattice, isLattice, mergeLattices, type Lattice } from '../../lib/lattice/index.js';
import { COMMIT_WINDOW_MS, type CommitIntents } from './commit_intents.js';
import { FINISH_TIMEOUT_MS, rollForward, type Fence } from './roll_forward.js';
import { stopCommitAt } from './test_hooks.js';
import { DONE, commitKey, doneKey, epochOf, indexEntry, indexKey, markKey, parseIndexEntry, versionKey, type Indexed } from './tx_keys.js';

/**
 * Version indexes are kept per epoch of commit time, so old ones can be
 * deleted whole (a map lattice only grows). A reader looks at this epoch's
 * and the last one's (its window); when nothing there fits, at the epoch the
 * key's mark names, then at the older ones still kept, newest first. A
 * version older than the newest that fits is never read, except as a floor,
 * which is read from its version copy. Short epochs keep reads cheap under a
 * busy writer: an index holds one epoch's commits.
 */
export interface TxTiming {
  epochMs: number;
  /** Versions, commit records and index epochs are deleted this long after their commit. */
  retentionMs: number;
  /**
   * A reader that reads a version this much older than its clock, of a
   * transaction not yet known to be done here, makes sure its plain writes
   * were made (`finishIfOld`). Default 2 s: a live committer is done by then.
   */
  finishAfterMs?: number;
  /** How long a committer may take from filing its intent to sending its index entries (default COMMIT_WINDOW_MS). */
  commitWindowMs?: number;
}

export const TX_TIMING: TxTiming = { epochMs: 500, retentionMs: 180_000, commitWindowMs: COMMIT_WINDOW_MS };
const FINISH_AFTER_MS = 2_000;
/**
 * How long a reader waits for a version it knows was committed and no
 * replica answers with (a ring change in progress: a shard new to the key
 * may not hold it yet), before the read fails with TransactionConflict;
 * the first pause between tries, each next one twice as long.
 */
const MISSING_VERSION_WAIT_MS = 1_500;
const MISSING_VERSION_FIRST_PAUSE_MS = 50;

/** `read()` again, with pauses growing from the first, until it finds something or MISSING_VERSION_WAIT_MS (or the deadline) has passed. */
async function waitFor<T>(deadline: number, read: () => Promise<T | undefined>): Promise<T | undefined> {
  const until = Math.min(deadline, Date.now() + MISSING_VERSION_WAIT_MS);
  for (let pause = MISSING_VERSION_FIRST_PAUSE_MS; ; pause *= 2) {
    const found = await read();
    if (found !== undefined || Date.now() + pause >= until) return found;
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

/**
 * The clock transactions commit by, on one executor: commit times in µs,
 * each later than the last this clock gave and than the time it is told a
 * commit must follow (a hybrid logical clock: a transaction commits after
 * every version it read, so a committer whose wall clock is behind does not
 * order its read-modify-write before what it read, which would lose it).
 * Injectable so that tests can run committers whose clocks disagree, as
 * separate machines' do.
 */
export class TxClock {
  private lastUs = 0;

  constructor(private readonly nowMs: () => number = Date.now) {}

  now(): number {
    return this.nowMs();
  }

  /** A commit time later than `afterUs` (and than every one before), also when the wall clock is behind it. */
  stamp(afterUs = 0): number {
    this.lastUs = Math.max(this.nowMs() * 1000, this.lastUs + 1, afterUs + 1);
    return this.lastUs;
  }
}

const SYSTEM_CLOCK = new TxClock();

/** Index epochs on `timing`'s clock: which one a commit time (µs) falls in, and which are kept. */
class Epochs {
  private readonly epochMs: number;
  private readonly kept: number;

  constructor(
    timing: TxTiming,
    private readonly clock: TxClock,
  ) {
    this.epochMs = timing.epochMs;
    this.kept = Math.ceil(timing.retentionMs / timing.epochMs);
  }

  of(tsUs: number): number {
    return epochOf(tsUs, this.epochMs);
  }

  now(): number {
    return this.of(this.clock.now() * 1000);
  }

  /** The epochs whose indexes are kept at epoch `now`, newest first (the first two are a reader's window). */
  keptAt(now: number): number[] {
    return Array.from({ length: this.kept }, (_, i) => now - i);
  }

  /**
   * The epochs after `now` up to `latest` (a key's mark), newest first: a
   * committer whose clock is ahead indexes there. At most as many as are
   * kept, so a clock ahead by more than the retention is not followed.
   */
  ahead(now: number, latest: number): number[] {
    return Array.from({ length: Math.max(0, Math.min(latest - now, this.kept)) }, (_, i) => Math.min(latest, now + this.kept) - i);
  }
}

/** How many older epochs' indexes a read fetches at first when it looks past its window; each next fetch twice as many. */
const OLDER_EPOCHS_FIRST = 4;
/** Names an executor remembers, the oldest forgotten past `max`. */
class BoundedNames {
  private readonly names = new Set<string>();

  constructor(private readonly max = 100_000) {}

  has(name: string): boolean {
    return this.names.has(name);
  }

  add(name: string): void {
    if (this.names.has(name)) return;
    if (this.names.size >= this.max) this.names.delete(this.names.values().next().value!);
    this.names.add(name);
  }

  delete(name: string): void {
    this.names.delete(name);
  }
}

/**
 * Keys an executor has seen marked. A mark is never removed, so a read of
 * such a key need not fetch the plain value in case it has none. Bounded:
 * forgetting one only costs that fetch again.
 */
export class MarkedKeys extends BoundedNames {}

/**
 * Transactions an executor has seen done (or is finishing), so that a
 * reader checks an old version's transaction once here. Bounded:
 * forgetting one only costs that check again.
 */
export class FinishedTransactions extends BoundedNames {}

/** A version a transaction has read: which transaction wrote it (none: a plain value), when, and what else it wrote. */
interface ReadVersion {
  tx: string | undefined;
  ts: number;
  keys: string[];
}

/**
 * The order of transactions: by commit time, then (two committers' clocks
 * can give one time) by id. Every choice a reader makes compares in this
 * one total order; with commit times alone, two transactions of one time
 * were each "not newer" than the other, so a reader could take one's k1 and
 * the other's k2. A plain value (no transaction) is older than all.
 */
function older(a: { tx: string | undefined; ts: number }, b: { tx: string | undefined; ts: number }): boolean {
  if (a.ts !== b.ts) return a.ts < b.ts;
  return (a.tx ?? '') < (b.tx ?? '');
}

const PLAIN_READ: ReadVersion = { tx: undefined, ts: 0, keys: [] };

/**
 * What a DAG stage passes downstream of an unfinished transaction: the
 * versions read ([key, writer tx or null, commit ts, the writer's keys,
 * the value or null for absent]) and the buffered writes. Values
 * travel so that a stage reads what the stages before it read without
 * asking the KVS again.
 */
export interface CarriedTransaction {
  reads: [string, string | null, number, string[], Lattice | null][];
  writes: [string, Lattice][];
}

/** One read as a carried transaction holds it, and as an exactly-once call logs it. */
export type CarriedRead = CarriedTransaction['reads'][number];

/** Checks one carried (or logged) read off the wire. */
export function parseCarriedRead(raw: unknown): CarriedRead {
  const r = raw as unknown[];
  const ok =
    Array.isArray(r) &&
    typeof r[0] === 'string' &&
    (r[1] === null || typeof r[1] === 'string') &&
    typeof r[2] === 'number' &&
    Array.isArray(r[3]) &&
    r[3].every((k) => typeof k === 'string') &&
    (r[4] === null || isLattice(r[4]));
  if (!ok) throw new MalformedMessage('a carried read needs [key, tx, ts, keys, value]');
  return r as CarriedRead;
}

/** Checks a carried transaction off the wire (absent: none). */
export function parseCarriedTransaction(value: unknown): CarriedTransaction | undefined {
  if (value === undefined) return undefined;
  const { reads, writes } = (value ?? {}) as Partial<CarriedTransaction>;
  const writeOk = (w: unknown): boolean => Array.isArray(w) && typeof w[0] === 'string' && isLattice(w[1]);
  if (!Array.isArray(reads) || !Array.isArray(writes) || !writes.every(writeOk)) {
    throw new MalformedMessage('a carried transaction needs reads [key, tx, ts, keys, value] and writes [key, lattice]');
  }
  return { reads: reads.map(parseCarriedRead), writes };
}

export class Transaction {
  private readonly reads = new Map<string, ReadVersion>();
  private readonly writes = new Map<string, Lattice>();
  /** What reads in this transaction returned, here or upstream, per key. */
  private readonly values = new Map<string, Lattice | undefined>();
  private readonly epochs: Epochs;

  constructor(
    readonly id: string,
    private readonly kvs: KvsClient,
    private readonly intents: CommitIntents,
    private readonly marked: MarkedKeys,
    private readonly timing = TX_TIMING,
    private readonly clock = SYSTEM_CLOCK,
    private readonly finished = new FinishedTransactions(),
  ) {
    this.epochs = new Epochs(timing, clock);
  }

  async read(key: string, deadline: number): Promise<Lattice | undefined> {
    const committed = await this.readCommitted(key, deadline);
    const own = this.writes.get(key);
    if (!own) return committed;
    return committed ? mergeLattices(committed, own) : own;
  }

  write(key: string, value: Lattice): void {
    const have = this.writes.get(key);
    this.writes.set(key, have ? mergeLattices(have, value) : value);
  }

  /** The reads and buffered writes so far, for the next stage of a DAG call. */
  carried(): CarriedTransaction {
    return {
      reads: [...this.reads].map(([key, r]) => [key, r.tx ?? null, r.ts, r.keys, this.values.get(key) ?? null]),
      writes: [...this.writes],
    };
  }

  /**
   * Reads `key` for an exactly-once call's log: the committed version read
   * (which transaction wrote it, when, what else it wrote, and its value),
   * not only the value, so that every attempt that acts on this read is
   * bounded by it and commits after it (`replay`).
   */
  async readForLog(key: string, deadline: number): Promise<CarriedRead> {
    await this.readCommitted(key, deadline);
    const r = this.reads.get(key) ?? PLAIN_READ;
    return [key, r.tx ?? null, r.ts, r.keys, this.values.get(key) ?? null];
  }

  /**
   * Acts on the read of `key` an exactly-once call's log decided (this
   * attempt's, or an earlier or concurrent attempt's) as if it had been read
   * here, and answers what the function sees: that version merged with its
   * own writes. A re-run that took only the logged value used to leave its
   * later reads unbounded by it and propose a commit time on its own clock:
   * on an executor whose clock was behind, a transfer committed before the
   * version it read, and was lost.
   */
  replay(decided: CarriedRead, deadline: number): Promise<Lattice | undefined> {
    const [key, tx, ts, keys, value] = decided;
    this.reads.set(key, { tx: tx ?? undefined, ts, keys });
    this.values.set(key, value ?? undefined);
    return this.read(key, deadline);
  }

  /** Takes on what an upstream stage read and wrote. */
  absorb(upstream: CarriedTransaction): void {
    for (const [key, tx, ts, keys, value] of upstream.reads) {
      // Of two branches' reads of one key the newer stays: it bounds later reads from below.
      const have = this.reads.get(key);
      if (have && !older(have, { tx: tx ?? undefined, ts })) continue;
      this.reads.set(key, { tx: tx ?? undefined, ts, keys });
      this.values.set(key, value ?? undefined);
    }
    for (const [key, value] of upstream.writes) this.write(key, value);
  }

  /** Becomes exactly what `decided` carries (what every attempt of an exactly-once stage passes on). */
  adopt(decided: CarriedTransaction): void {
    this.reads.clear();
    this.writes.clear();
    this.values.clear();
    this.absorb(decided);
  }

  /**
   * Reads every key written and not read (a serializable call's blind
   * writes), so that the commit time is after every version of a key it
   * writes, as it is after every version it read: under the key's lock the
   * newest version is the last commit's, and a commit ordered before it on a
   * clock that is behind would be lost.
   */
  async readWritten(deadline: number): Promise<void> {
    await Promise.all([...this.writes.keys()].filter((k) => !this.values.has(k)).map((k) => this.readCommitted(k, deadline)));
  }

  /** Whether there are writes to commit. */
  get writing(): boolean {
    return this.writes.size > 0;
  }

  /**
   * A commit time (µs) from this executor's TxClock, later than any it gave
   * before and than every version this transaction read: what an
   * exactly-once attempt proposes as its commit time, and what a commit
   * given none commits at.
   */
  now(): number {
    return this.clock.stamp(this.newestRead());
  }

  /** The newest commit time (µs) among the versions read, here or upstream. */
  private newestRead(): number {
    let newest = 0;
    for (const r of this.reads.values()) newest = Math.max(newest, r.ts);
    // A plain value read carries the time of the commit that stamped it (or of its plain write).
    for (const v of this.values.values()) if (v instanceof LWWPair) newest = Math.max(newest, v.timestamp);
    return newest;
  }

  /**
   * Commits at `ts`. Every attempt of an exactly-once call commits at the
   * one time the effect log decided, or an attempt that died committing and
   * a re-run (or two attempts at once) would leave readers two commit times
   * of one transaction, one per key. `written` hears each key merged into
   * the KVS, as stamped (the executor's cache keeps up with its own writes).
   */
  async commit(
    deadline: number,
    ts = this.now(),
    written?: (key: string, value: Lattice) => void,
    beforeIndex?: () => void | Promise<void>,
    /** A serializable commit's locks and seal token, named in its intent before `beforeIndex` seals them. */
    fence?: Fence,
  ): Promise<void> {
    if (this.writes.size === 0) return;
    const keys = [...this.writes.keys()];
    const epoch = this.epochs.of(ts);
    // A plain value is stamped again with the commit's place in the order
    // of transactions (its time, then its id, as LWW ties go to the higher
    // writer). Stamped when the function wrote it instead, the plain keys
    // of two commits at once could each keep another one's write, and
    // readers of the plain keys (past retention, or not atomic) would see
    // that mix for good.
    const writes = new Map([...this.writes].map(([k, w]) => [k, w instanceof LWWPair ? new LWWPair(ts, this.id, w.value) : w]));
    // Everything an index entry points a reader to is in before the entry: a
    // version copy, which a reader fetches as a floor when it read another
    // key of this transaction (so only when there is another key), and the
    // commit record, for a re-run. So is each key's mark: a reader that
    // finds it never answers from the plain key (which this commit writes
    // last) without looking at the index first. So is the commit's intent,
    // by which the collector finds the commit if this committer dies.
    const versions = new Map<string, Lattice>();
    const version = async (k: string): Promise<Lattice> => {
      const write = writes.get(k)!;
      const installed = write instanceof LWWPair ? undefined : await this.kvs.get(k, { deadline });
      versions.set(k, installed ? mergeLattices(installed, write) : write);
      return versions.get(k)!;
    };
    const marksAndRecord = (by: number) => [
      ...keys.map((k) => this.kvs.put(markKey(k), new MaxIntLattice(epoch), by)),
      this.kvs.put(commitKey(this.id), LWWPair.now({ ts, keys }, this.id), by),
    ];
    const copies = keys.length > 1;
    // The commit window: past it, the collector may find the commit
    // unindexed and leave it rolled back, so every index entry is sent
    // before its end, or none is.
    const indexBy = Date.now() + (this.timing.commitWindowMs ?? COMMIT_WINDOW_MS);
    // The intent is asked for last: the KVS client sends what is asked for
    // in one go as one batch, and the copies wait a microtask for their
    // versions; asked for first, it went out alone ahead of them.
    const fileIntent = () => this.intents.record({ tx: this.id, ts, keys, ...(fence ? { fence: { locks: fence.locks, seals: fence.seals } } : {}) }, deadline);
    if (copies) await Promise.all([...keys.map(async (k) => this.kvs.put(versionKey(this.id, k), await version(k), deadline)), ...marksAndRecord(deadline), fileIntent()]);
    else await Promise.all([version(keys[0]!), fileIntent()]);
    await stopCommitAt('versions', this.id);
    if (Date.now() >= indexBy) {
      throw new TransactionConflict(`transaction ${this.id} did not reach its index within its commit window; nothing was committed; call again`);
    }
    // A serializable call's last look at its locks: the index entries make the commit visible.
    if (beforeIndex) {
      await beforeIndex();
      // Its seals hold the locks only until the collector deals with the intent: no index entry goes out past the window.
      if (Date.now() >= indexBy) throw new TransactionConflict(`transaction ${this.id} did not reach its index within its commit window; nothing was committed; call again`);
    }
    const by = Math.min(deadline, indexBy);
    await Promise.all([
      ...keys.map((k) => this.kvs.put(indexKey(k, epoch), new MapLattice([[this.id, indexEntry(ts, keys, versions.get(k)!)]]), by)),
      ...(copies ? [] : marksAndRecord(by)),
    ]);
    await stopCommitAt('indexed', this.id);
    await Promise.all(keys.map((k) => this.kvs.put(k, writes.get(k)!, deadline)));
    for (const k of keys) written?.(k, writes.get(k)!);
    // Not awaited: if it is lost, the collector (or a reader) writes the plain keys again (the same stamps: no change).
    this.kvs.put(doneKey(this.id), DONE, deadline).catch(() => undefined);
    // Its versions, record and index epochs are deleted by the collector's filing, after retention.
  }

  /**
   * Finishes, in the background (the read does not wait), a transaction
   * whose old version was read and that is not seen done here, in case its
   * committer died after indexing it (roll_forward.ts). The collector does
   * so too, later, for every commit; a reader does it sooner, and only
   * while the transaction is younger than half the retention, so that it
   * never writes index entries or a done mark again once they are due for
   * deletion (they would be kept for good).
   */
  private finishIfOld(tx: string, key: string, entry: Indexed): void {
    const ageUs = this.clock.now() * 1000 - entry.ts;
    if (this.finished.has(tx) || ageUs < (this.timing.finishAfterMs ?? FINISH_AFTER_MS) * 1000 || ageUs >= (this.timing.retentionMs / 2) * 1000) return;
    this.finished.add(tx);
    // On failure, a later read tries again.
    rollForward(this.kvs, this.timing.epochMs, { tx, ts: entry.ts, keys: entry.keys }, Date.now() + FINISH_TIMEOUT_MS, { key, version: entry.version }).catch(() =>
      this.finished.delete(tx),
    );
  }

  /**
   * A key is read at one version for the whole transaction (any newer
   * version of it would fracture with that first read): the value read
   * first, here or upstream, is kept.
   */
  private async readCommitted(key: string, deadline: number): Promise<Lattice | undefined> {
    if (this.values.has(key)) return this.values.get(key);
    const value = await this.choose(key, deadline);
    this.values.set(key, value);
    return value;
  }

  /** Reads `key` at the newest version that does not fracture the reads so far. */
  private async choose(key: string, deadline: number): Promise<Lattice | undefined> {
    const now = this.epochs.now();
    // A key not known to be marked may be one no transaction wrote: its plain value is fetched beside the mark.
    const plainRead = this.marked.has(key) ? undefined : this.kvs.get(key, { deadline });
    plainRead?.catch(() => undefined);
    const [recent, mark] = await Promise.all([this.indexed(key, [now - 1, now], deadline), this.kvs.get(markKey(key), { deadline })]);
    if (mark === undefined && this.marked.has(key)) {
      // A mark is never removed: no replica answering with one this executor
      // has seen means the KVS is not serving the key now (a ring change, a
      // partition), not that no transaction wrote it. Read as never written,
      // a transfer computed a balance and a ledger from nothing.
      if ((await waitFor(deadline, () => this.kvs.get(markKey(key), { deadline, all: true }))) === undefined) {
        throw new TransactionConflict(`"${key}" was written by a transaction, and no replica answers with its mark: the KVS is not serving it now; call again`);
      }
      return this.choose(key, deadline);
    }
    if (mark === undefined) {
      // Never written by a transaction: what plain writes left there, if no commit marked the key meanwhile.
      return this.plain(key, deadline, async () => (await this.kvs.get(markKey(key), { deadline })) === undefined, plainRead);
    }
    this.marked.add(key);
    // No commit indexed the key in an epoch after the one its mark names.
    const latest = mark instanceof MaxIntLattice ? mark.value : now;
    // A committer's clock ahead of ours indexed the key past our window: those epochs are read too (one more round trip, only then).
    const ahead = this.epochs.ahead(now, latest);
    if (ahead.length > 0) for (const [tx, v] of await this.indexed(key, ahead, deadline)) recent.set(tx, v);
    const floor = this.floor(key);
    const fromFloor = (found: Map<string, Indexed>) =>
      [...found].filter(([tx, v]) => !older({ tx, ts: v.ts }, floor)).sort(([atx, a], [btx, b]) => (older({ tx: atx, ts: a.ts }, { tx: btx, ts: b.ts }) ? 1 : -1));
    let chosen = this.firstWhole(fromFloor(recent));
    let olderSeen = false;
    if (!chosen) {
      // Nothing recent fits (not written lately, or every recent version
      // would fracture what was read): the newest that fits in the older
      // epochs still kept, from the mark's down to the floor's, the mark's
      // first, then the others a few at a time.
      const fit = async (epochs: number[]) => {
        const found = await this.indexed(key, epochs, deadline);
        olderSeen ||= found.size > 0;
        return this.firstWhole(fromFloor(found));
      };
      const older = this.epochs.keptAt(now).filter((e) => e < now - 1 && e <= latest && e >= this.epochs.of(floor.ts));
      if (older[0] === latest) chosen = await fit(older.splice(0, 1));
      for (let i = 0, n = OLDER_EPOCHS_FIRST; !chosen && i < older.length; i += n, n *= 2) chosen = await fit(older.slice(i, i + n));
    }
    if (chosen) {
      const [tx, entry] = chosen;
      this.reads.set(key, { tx, ts: entry.ts, keys: entry.keys });
      this.finishIfOld(tx, key, entry);
      return entry.version;
    }
    if (floor.tx) {
      // The floor's transaction has not indexed this key yet (or the index read missed it); its version is there before its index entries.
      this.reads.set(key, floor);
      return this.floorVersion(key, { ...floor, tx: floor.tx }, deadline);
    }
    if (recent.size === 0 && !olderSeen) {
      // No indexed transaction is kept: they are long done, so the plain key
      // holds them all, unless a commit reached it meanwhile: one that began
      // since would have moved the mark on; one that had marked it and not
      // yet indexed it (it indexes in the mark's epoch or before) would show
      // in a kept index by now.
      const kept = [...ahead, ...this.epochs.keptAt(now).filter((e) => e <= latest)];
      return this.plain(key, deadline, async () => {
        const [markNow, indexedNow] = await Promise.all([this.kvs.get(markKey(key), { deadline }), this.indexed(key, kept, deadline)]);
        return markNow instanceof MaxIntLattice && markNow.value === latest && indexedNow.size === 0;
      });
    }
    // Some are kept and all would fracture: the version to read is gone, unless the key held nothing before them.
    return this.beforeKept(key, deadline);
  }

  /**
   * The version of `key` the floor's transaction wrote, when no index read
   * showed it: its copy, written before any of its index entries. Never
   * absent, since that transaction wrote the key (answering absent made a
   * transfer write a balance and a ledger from nothing, and an audit see an
   * account that exists as absent, under ring changes in the fault
   * harness). A copy one replica does not hold is asked of every replica;
   * the plain value is that version too when that transaction's commit
   * stamped it (after retention the copy is deleted, and the plain key
   * holds it until a later commit writes it); while neither can be read,
   * the reader waits a little, then fails with TransactionConflict.
   */
  private async floorVersion(key: string, floor: ReadVersion & { tx: string }, deadline: number): Promise<Lattice> {
    const copy = versionKey(floor.tx, key);
    const stampedByFloor = (v: Lattice | undefined) => v instanceof LWWPair && v.timestamp === floor.ts && v.writer === floor.tx;
    const found =
      (await this.kvs.get(copy, { deadline })) ??
      (await waitFor(deadline, async () => {
        const [again, plain] = await Promise.all([this.kvs.get(copy, { deadline, all: true }), this.kvs.get(key, { deadline, all: true })]);
        return again ?? (stampedByFloor(plain) ? plain : undefined);
      }));
    if (found === undefined) {
      throw new TransactionConflict(`transaction ${this.id} read from ${floor.tx}, which wrote "${key}", and no replica holds that version of "${key}" any more`);
    }
    return found;
  }

  /**
   * What `key` held before every kept version, when each of those would
   * fracture the reads so far: nothing, if its plain value (asked of every
   * replica) is absent, since a commit writes the plain key after its index
   * entries and every commit older than those kept has written it. If it
   * held something, that version is no longer kept: the read fails with
   * TransactionConflict rather than read an existing key as absent.
   */
  private async beforeKept(key: string, deadline: number): Promise<undefined> {
    if ((await this.kvs.get(key, { deadline, all: true })) !== undefined) {
      throw new TransactionConflict(`no version of "${key}" still kept fits what transaction ${this.id} read before; call again`);
    }
    this.reads.set(key, PLAIN_READ);
    return undefined;
  }

  /**
   * The plain value of `key`, read as older than every transaction, which it
   * is only if no commit reached the key before the read: every commit marks
   * and indexes a key before writing it, so `untouched()`, asked after the
   * read, tells. Otherwise the key is chosen again, now with a version.
   * An absent answer from one replica is asked of every replica before it
   * is believed: a shard new to the key in a ring change may not hold it yet.
   */
  private async plain(
    key: string,
    deadline: number,
    untouched: () => Promise<boolean>,
    read = this.kvs.get(key, { deadline }),
    everyReplica = false,
  ): Promise<Lattice | undefined> {
    const value = await read;
    if (!(await untouched())) return this.choose(key, deadline);
    if (value === undefined && !everyReplica) return this.plain(key, deadline, untouched, this.kvs.get(key, { deadline, all: true }), true);
    this.reads.set(key, PLAIN_READ);
    return value;
  }

  /** The lower bound of a read of `key`: the newest transaction read from that also wrote it. */
  private floor(key: string): ReadVersion {
    let floor = PLAIN_READ;
    for (const seen of this.reads.values()) if (seen.tx && older(floor, seen) && seen.keys.includes(key)) floor = seen;
    return floor;
  }

  /** The first (newest) of `ordered` that does not fracture the reads so far. */
  private firstWhole(ordered: [string, Indexed][]): [string, Indexed] | undefined {
    return ordered.find(([tx, { ts, keys }]) => !this.fractures(tx, ts, keys));
  }

  /** The transactions the index of `key` lists in `epochs`. */
  private async indexed(key: string, epochs: number[], deadline: number): Promise<Map<string, Indexed>> {
    const found = new Map<string, Indexed>();
    for (const index of await Promise.all(epochs.map((e) => this.kvs.get(indexKey(key, e), { deadline })))) {
      if (!(index instanceof MapLattice)) continue;
      for (const [tx, raw] of (index as MapLattice<Lattice>).entries()) {
        const entry = parseIndexEntry(raw);
        if (entry) found.set(tx, entry);
      }
    }
    return found;
  }

  /** Would reading transaction `tx`, which wrote `keys` at `ts`, show part of it beside an older read of another of its keys? */
  private fractures(tx: string, ts: number, keys: string[]): boolean {
    return keys.some((k) => {
      const seen = this.reads.get(k);
      return seen !== undefined && older(seen, { tx, ts });
    });
  }
}
