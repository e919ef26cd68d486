// The one KVS client, shared by users and executors. It keeps its own view
// of the hash ring (from shard heartbeats) and sends each operation straight
// to the shards that hold the key:
//   - a get goes to one replica (or to all, merging what they answer);
//   - a put or delete goes to every replica and is acknowledged once all of
//     them have it durably, so losing any one replica loses no acknowledged
//     write.
// Operations made in the same tick travel as one `batch` message per shard.
// A shard that is gone (no responders), slow, or answers WrongShard makes the
// operation wait for the ring to change (or a short backoff) and go again,
// until its deadline. Every KVS operation is a merge, a read, a delete, a
// decide (which answers the decided value again) or a lock or unlock (a
// re-grant to the holder, a release of what is free: no change), all safe
// to repeat, which
// is also why an oversized batch can simply be split. A put with a ttl
// carries the absolute expiry it computed once, so a repeat sets the same.

import { request } from '../actor/rpc.js';
import type { Subscription, Transport } from '../actor/transport.js';
import { arr, decodeMessage } from '../codec/index.js';
import { deadlineIn } from '../deadline.js';
import { CloudburstError, DeadlineExceeded, InvalidArgument, MalformedMessage, NoCapacity, PayloadTooLarge, errorFromWire } from '../errors.js';
import { expiryOf, mergeExpiry, type PutOptions } from '../kvs/expiry.js';
import { KVS_BATCH, parseEntries, parseLease, type KvsOp, type KvsResult } from '../kvs/protocol.js';
import { followOverrides } from '../kvs/replication_overrides.js';
import { DEFAULT_WATCH_TTL_MS, bucketOf } from '../kvs/updates.js';
import { RingView, shardInfo, type ShardInfo } from '../kvs/ring_view.js';
import { MapLattice, mergeLattices, type Lattice } from '../lattice/index.js';
import { LOCK_FIELD, lockKey, parseLock, type LockState } from '../kvs/locks.js';
import { Membership } from '../membership.js';
import type { Subjects } from '../subjects.js';
import { PushTracker, parsePushes } from './push_tracker.js';

export interface KvsClientOptions {
  /** Deadline for operations that name none. Default 10 s. */
  timeoutMs?: number;
  /** A shard silent this long is taken as gone. Default 3 s. */
  memberTimeoutMs?: number;
  /** One attempt at one shard may take this long before the op tries again. Default 2 s. */
  attemptTimeoutMs?: number;
  /** Lease of a watch, renewed at a third of it while the watch is open. Default 30 s. */
  watchTtlMs?: number;
  /** Told of failures no caller waits for: watch renewals, update and replication messages. */
  onBackgroundError?: (err: unknown) => void;
}

export interface GetOptions {
  /** Read every replica and merge the answers (default: one replica). */
  all?: boolean;
  deadline?: number;
}

export interface KvsPutOptions extends PutOptions {
  deadline?: number;
  /** The expiry itself (ms since the epoch), for a writer that computed it already; instead of ttlMs. */
  expiresAt?: number;
}

/** A key's value as the KVS holds it, with its expiry (ms since the epoch; 0: none). */
export interface StoredValue {
  value: Lattice;
  expiresAt: number;
}

/** Told of a watched key's merged value and its expiry (0: none). */
export type MergeListener = (key: string, value: Lattice, expiresAt: number) => void;

/** What an operation settles with: the merged value of its answers and the latest expiry among them. */
interface Answer {
  value: Lattice | undefined;
  expiresAt: number;
}

/** Errors that say "try again once the ring has moved", not "this op is wrong". */
const RETRYABLE = new Set(['WRONG_SHARD', 'NO_CAPACITY', 'DEADLINE_EXCEEDED', 'CLOSED']);

interface Pending {
  op: KvsOp;
  all: boolean;
  deadline: number;
  resolve: (answer: Answer) => void;
  reject: (err: unknown) => void;
  /** Told every shard's answer before `resolve` (watch leases). */
  answers?: (results: KvsResult[]) => void;
}

/** One try of one op: which shards must answer, and what they said. */
interface Attempt {
  pending: Pending;
  shards: string[];
  answered: Map<string, KvsResult>;
  failed: CloudburstError | undefined;
  left: number;
}

export class KvsClient {
  private queue: Pending[] = [];
  /** Ops to try again, gathered during one turn. */
  private retrying: Pending[] = [];
  private readonly timeoutMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly membership: Membership;
  private readonly ring: RingView;
  private readonly following: Subscription;
  private readonly watchers = new Map<string, Set<MergeListener>>();
  private readonly buckets = new Map<number, { sub: Subscription; count: number }>();
  /** Per watched key, the leases its replicas answered last (a new one: read the key again). */
  private readonly leaseIds = new Map<string, string>();
  private readonly pushes: PushTracker;
  private readonly watchTtlMs: number;
  private readonly onBackgroundError: (err: unknown) => void;
  private renewTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly transport: Transport,
    private readonly subjects: Subjects,
    opts: KvsClientOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.watchTtlMs = opts.watchTtlMs ?? DEFAULT_WATCH_TTL_MS;
    this.onBackgroundError = opts.onBackgroundError ?? (() => {});
    this.attemptTimeoutMs = opts.attemptTimeoutMs ?? 2_000;
    this.membership = new Membership(opts.memberTimeoutMs ?? 3_000);
    this.ring = new RingView();
    // New replicas of watched keys need leases too.
    const moved = (changed: boolean): void => void (changed && this.watchers.size > 0 && this.lease([...this.watchers.keys()]));
    this.membership.onChange(() => moved(this.refreshRing()));
    this.pushes = new PushTracker({
      lost: (buckets) => this.reread([...this.watchers.keys()].filter((key) => buckets === 'all' || buckets.has(bucketOf(key)))),
      restarted: (shard) => void this.lease([...this.watchers.keys()].filter((key) => this.ring.writeReplicas(key).some((s) => s.id === shard))),
    });
    this.membership.onHeard((m) => {
      const pushes = m.kind === 'kvs' && m.incarnation !== undefined ? parsePushes(m['pushes']) : undefined;
      if (pushes) this.pushes.heartbeat(m.id, m.incarnation!, pushes);
    });
    const members = this.membership.follow(transport, subjects);
    const overrides = followOverrides(transport, subjects, (o) => moved(this.ring.setOverrides(o)), this.onBackgroundError);
    this.following = { unsubscribe: () => (members.unsubscribe(), overrides.unsubscribe()) };
  }

  /** The lattice stored under `key`, or undefined when there is none (or it expired). */
  async get(key: string, opts: GetOptions = {}): Promise<Lattice | undefined> {
    return (await this.enqueue({ op: 'get', key }, opts.deadline, opts.all ?? false)).value;
  }

  /** The lattice stored under `key` with its expiry (the latest among the replicas asked), or undefined. */
  async getStored(key: string, opts: GetOptions = {}): Promise<StoredValue | undefined> {
    const { value, expiresAt } = await this.enqueue({ op: 'get', key }, opts.deadline, opts.all ?? false);
    return value === undefined ? undefined : { value, expiresAt };
  }

  /**
   * Merges `value` into `key` on every replica. With `ttlMs` (a positive
   * finite number, else InvalidArgument), the key is deleted that long from
   * now, merged with any expiry it has as lib/kvs/expiry.ts says. The third
   * argument may be a deadline alone.
   */
  async put(key: string, value: Lattice, opts: number | KvsPutOptions = {}): Promise<void> {
    const { deadline, expiresAt: given, ...put } = typeof opts === 'number' ? { deadline: opts } : opts;
    if (given !== undefined && !(Number.isFinite(given) && given > 0)) throw new InvalidArgument(`expiresAt must be a positive time in ms, got ${given}`);
    const expiresAt = given ?? expiryOf(put);
    await this.enqueue(expiresAt > 0 ? { op: 'put', key, value, expiresAt } : { op: 'put', key, value }, deadline);
  }

  /**
   * First writer wins on `field` of the map lattice at `key`: the key's
   * primary replica keeps `value` unless the field already has one, and
   * answers with the field's value (the first writer's) once every replica
   * holds it. Every caller, and every retry of a lost answer, gets the same.
   */
  async decide(key: string, field: string, value: Lattice, deadline?: number): Promise<Lattice> {
    const decided = (await this.enqueue({ op: 'decide', key, field, value }, deadline)).value;
    if (!decided) throw new MalformedMessage(`the decider of "${key}" answered no value for "${field}"`);
    return decided;
  }

  /**
   * Asks for data key `key`'s lock (lib/kvs/locks.ts) for `owner` until
   * `until` (ms since the epoch): answers the lock as every replica of its
   * record then holds it, granted or not (owned by `owner`: granted, its
   * lease the later of `until` and any it had). Never waits for a holder.
   * Repeating it is harmless: a re-grant to the holder keeps its generation.
   */
  async lock(key: string, owner: string, until: number, deadline?: number): Promise<LockState> {
    return parseLock(fieldOf((await this.enqueue({ op: 'lock', key: lockKey(key), owner, until }, deadline)).value));
  }

  /**
   * Releases data key `key`'s lock if `owner` holds it (with `seal`: only if
   * sealed by that token); answers the lock as it then is.
   */
  async unlock(key: string, owner: string, deadline?: number, seal?: string): Promise<LockState> {
    const op: KvsOp = seal === undefined ? { op: 'unlock', key: lockKey(key), owner } : { op: 'unlock', key: lockKey(key), owner, seal };
    return parseLock(fieldOf((await this.enqueue(op, deadline)).value));
  }

  /**
   * Seals data key `key`'s lock for `owner` with `token` until `until` (ms
   * since the epoch), if `owner` holds it at `generation` with its lease not
   * over (lib/kvs/locks.ts `seal`); answers the lock as it then is (sealed by
   * `token`: done). Repeating it is harmless.
   */
  async seal(key: string, owner: string, generation: number, token: string, until: number, deadline?: number): Promise<LockState> {
    return parseLock(fieldOf((await this.enqueue({ op: 'seal', key: lockKey(key), owner, generation, token, until }, deadline)).value));
  }

  async delete(key: string, deadline?: number): Promise<void> {
    await this.enqueue({ op: 'del', key }, deadline);
  }

  /**
   * Calls `onMerge` with the key's value once the watch holds, then with the
   * merged value each time `key` changes anywhere (batched, at most once a
   * tick per key), until the returned handle is closed. Leases are renewed
   * while the watch is open, also when the ring moves, so a watcher that
   * goes away costs the shards nothing for long. Pushes can be lost: the key
   * is read again (and `onMerge` called) whenever its replicas answer a
   * renewal with a lease other than the last one (a shard restarted, or a
   * lease lapsed) and when a push is found missing (push_tracker.ts).
   * `onMerge` is told the key's expiry too (0: none).
   */
  watch(keys: string[], onMerge: MergeListener): { close(): void } {
    for (const key of keys) {
      let listeners = this.watchers.get(key);
      if (!listeners) {
        this.watchers.set(key, (listeners = new Set()));
        this.followBucket(bucketOf(key), +1);
        // A merge between the watcher's last read and the lease taking hold
        // would never be pushed: a new lease is followed by a read (leaseKey).
        void this.lease([key]);
      }
      listeners.add(onMerge);
    }
    this.renewTimer ??= setInterval(() => void this.lease([...this.watchers.keys()]), this.watchTtlMs / 3).unref();
    return {
      close: () => {
        for (const key of keys) {
          const listeners = this.watchers.get(key);
          if (!listeners?.delete(onMerge) || listeners.size > 0) continue;
          this.watchers.delete(key);
          this.leaseIds.delete(key);
          this.followBucket(bucketOf(key), -1);
        }
        if (this.watchers.size === 0) {
          clearInterval(this.renewTimer);
          this.renewTimer = undefined;
        }
      },
    };
  }

  /** The shards this client routes to, as it sees them now (status, tests). */
  ringMembers(): ShardInfo[] {
    return this.ring.members;
  }

  /** Stops following the cluster (the transport is the owner's to close). */
  close(): void {
    this.following.unsubscribe();
    clearInterval(this.renewTimer);
    for (const { sub } of this.buckets.values()) sub.unsubscribe();
  }

  private async lease(keys: string[]): Promise<void> {
    const results = await Promise.allSettled(keys.map((key) => this.leaseKey(key)));
    for (const r of results) if (r.status === 'rejected') this.onBackgroundError(r.reason);
  }

  /** Leases `key` on its replicas; reads it again when they hold another lease than last time (merges between were pushed to nobody). */
  private async leaseKey(key: string): Promise<void> {
    let answers: KvsResult[] = [];
    await this.enqueue({ op: 'watch', key, ttlMs: this.watchTtlMs }, undefined, false, (r) => (answers = r));
    if (!this.watchers.has(key)) return;
    const ids: string[] = [];
    for (const r of answers) {
      const lease = parseLease(r.lease);
      if (lease) this.pushes.leased(lease, bucketOf(key));
      ids.push(lease ? `${lease.shard}/${lease.inc}/${lease.since}` : '?');
    }
    const id = ids.sort().join(' ');
    if (this.leaseIds.get(key) === id) return;
    await this.readAgain(key);
    // Only once read: a read that failed is tried again at the next renewal.
    if (this.watchers.has(key)) this.leaseIds.set(key, id);
  }

  /** Reads watched keys again and tells their watchers (pushes of them may have been lost). */
  private reread(keys: string[]): void {
    for (const key of keys) this.readAgain(key).catch((err: unknown) => (this.leaseIds.delete(key), this.onBackgroundError(err)));
  }

  private async readAgain(key: string): Promise<void> {
    const stored = await this.getStored(key);
    if (stored && this.watchers.has(key)) this.notify(key, stored.value, stored.expiresAt);
  }

  private followBucket(bucket: number, delta: 1 | -1): void {
    const followed = this.buckets.get(bucket);
    if (followed) {
      followed.count += delta;
      if (followed.count === 0) {
        followed.sub.unsubscribe();
        this.buckets.delete(bucket);
      }
      return;
    }
    const sub = this.transport.subscribe(this.subjects.updates(bucket), (m) => this.onUpdates(bucket, m.data));
    this.buckets.set(bucket, { sub, count: 1 });
  }

  private onUpdates(bucket: number, data: Uint8Array): void {
    let msg: Record<string, unknown>;
    try {
      msg = decodeMessage(data);
      for (const [key, value, expiresAt] of parseEntries(msg)) this.notify(key, value, expiresAt ?? 0);
      const { shard, inc, seq } = msg;
      if (typeof shard === 'string' && typeof inc === 'string' && typeof seq === 'number') this.pushes.pushed(shard, inc, bucket, seq);
    } catch (err) {
      return this.onBackgroundError(err);
    }
    // Entries too large to publish are named only; fetch them.
    const stale = Array.isArray(msg['stale']) ? msg['stale'].filter((k): k is string => typeof k === 'string' && this.watchers.has(k)) : [];
    for (const key of stale) {
      this.getStored(key).then((stored) => stored && this.notify(key, stored.value, stored.expiresAt), (err: unknown) => this.onBackgroundError(err));
    }
  }

  private notify(key: string, value: Lattice, expiresAt: number): void {
    for (const listener of this.watchers.get(key) ?? []) listener(key, value, expiresAt);
  }

  private refreshRing(): boolean {
    return this.ring.update(
      this.membership.live('kvs').map((m) => shardInfo(m)),
    );
  }

  private enqueue(op: KvsOp, deadline = deadlineIn(this.timeoutMs), all = false, answers?: (results: KvsResult[]) => void): Promise<Answer> {
    return new Promise((resolve, reject) => {
      if (this.queue.length === 0) queueMicrotask(() => void this.flush());
      this.queue.push({ op, all, deadline, resolve, reject, answers });
    });
  }

  private async flush(): Promise<void> {
    const ops = this.queue;
    this.queue = [];
    try {
      if (!this.ring.ready) {
        const until = latestDeadline(ops);
        await this.membership.waitFor(() => this.ring.ready, Math.min(until - Date.now(), this.membership.timeoutMs));
      }
      this.send(ops.map((p) => this.plan(p)));
    } catch (err) {
      // Nothing may escape a flush nobody awaits: its callers hear it instead.
      for (const p of ops) p.reject(err);
    }
  }

  private plan(pending: Pending): Attempt {
    const { op } = pending;
    let shards: ShardInfo[];
    // A decide has one decider, the key's primary replica (first in ring order), which replicates it itself.
    if (op.op === 'decide' || op.op === 'lock' || op.op === 'unlock' || op.op === 'seal') shards = this.ring.readReplicas(op.key).slice(0, 1);
    else if (op.op !== 'get') shards = this.ring.writeReplicas(op.key);
    else if (pending.all) shards = this.ring.readReplicas(op.key);
    else {
      // One replica, chosen at random so reads of a hot key spread out.
      const replicas = this.ring.readReplicas(op.key);
      shards = replicas.length > 0 ? [replicas[Math.floor(Math.random() * replicas.length)]!] : [];
    }
    return { pending, shards: shards.map((s) => s.id), answered: new Map(), failed: undefined, left: shards.length };
  }

  private send(attempts: Attempt[]): void {
    const byShard = new Map<string, Attempt[]>();
    for (const a of attempts) {
      if (a.shards.length === 0) {
        this.retry(a, new NoCapacity('no KVS shard is running'));
        continue;
      }
      for (const shard of a.shards) {
        let list = byShard.get(shard);
        if (!list) byShard.set(shard, (list = []));
        list.push(a);
      }
    }
    for (const [shard, list] of byShard) {
      // Settling an attempt twice is harmless (a promise settles once), and
      // a throw nobody awaits would end the process.
      this.sendBatch(shard, list).catch((err: unknown) => {
        for (const a of list) a.pending.reject(err);
      });
    }
  }

  private async sendBatch(shardId: string, attempts: Attempt[]): Promise<void> {
    try {
      const shard = this.ring.shard(shardId);
      const deadline = Math.min(earliestDeadline(attempts), Date.now() + this.attemptTimeoutMs);
      if (!shard) throw new NoCapacity(`shard ${shardId} left the ring`);
      const body = await request(this.transport, shard.subject, KVS_BATCH, { ops: attempts.map((a) => a.pending.op), ring: this.ring.version }, deadline);
      const results = arr(body as Record<string, unknown>, 'results');
      if (results.length !== attempts.length) throw new MalformedMessage('kvs answered a different number of results');
      attempts.forEach((a, i) => this.answer(a, shardId, results[i] as KvsResult));
    } catch (err) {
      if (err instanceof PayloadTooLarge && attempts.length > 1) {
        const half = attempts.length >> 1;
        await Promise.all([this.sendBatch(shardId, attempts.slice(0, half)), this.sendBatch(shardId, attempts.slice(half))]);
        return;
      }
      const error = err instanceof CloudburstError ? err : new NoCapacity(String(err), { cause: err });
      for (const a of attempts) this.answer(a, shardId, { error: error.toWire() });
    }
  }

  private answer(a: Attempt, shardId: string, result: KvsResult): void {
    if (result.error) {
      const err = errorFromWire(result.error);
      if (err.code === 'WRONG_SHARD') this.learn(err);
      if (!a.failed || !RETRYABLE.has(err.code)) a.failed = err;
    } else {
      a.answered.set(shardId, result);
    }
    if (--a.left > 0) return;
    if (a.failed) this.retry(a, a.failed);
    else this.complete(a);
  }

  private complete(a: Attempt): void {
    let value: Lattice | undefined;
    let expiresAt = 0;
    try {
      for (const r of a.answered.values()) {
        if (!r.value) continue;
        value = value ? mergeLattices(value, r.value) : r.value;
        if (typeof r.expiresAt === 'number' && Number.isFinite(r.expiresAt)) expiresAt = mergeExpiry(expiresAt, r.expiresAt);
      }
    } catch (err) {
      return a.pending.reject(err);
    }
    a.pending.answers?.([...a.answered.values()]);
    a.pending.resolve({ value, expiresAt });
  }

  /** Goes again once the ring changes (or after a short pause), within the deadline. */
  private retry(a: Attempt, err: CloudburstError): void {
    const { pending } = a;
    if (!RETRYABLE.has(err.code)) return pending.reject(err);
    const left = pending.deadline - Date.now();
    if (left <= 0) {
      return pending.reject(err.code === 'DEADLINE_EXCEEDED' ? err : new DeadlineExceeded(`kvs ${pending.op.op} of "${pending.op.key}" did not complete in time: ${err.message}`, { cause: err }));
    }
    // Ops that fail together (one batch's) wait together and go again as one
    // batch: one by one, a round of 100k retries was 100k messages.
    if (this.retrying.length === 0) queueMicrotask(() => this.retryRound());
    this.retrying.push(pending);
  }

  private retryRound(): void {
    const group = this.retrying;
    this.retrying = [];
    const version = this.ring.version;
    const left = earliestDeadline(group) - Date.now();
    this.membership
      .waitFor(() => this.ring.version !== version, Math.min(left, 100))
      .then(() => this.send(group.map((p) => this.plan(p))))
      .catch((e: unknown) => {
        for (const p of group) p.reject(e);
      });
  }

  /** A shard's WrongShard answer carries its ring: learn the shards we did not know. */
  private learn(err: CloudburstError): void {
    const members = err.data?.['members'];
    if (!Array.isArray(members)) return;
    for (const m of members as ShardInfo[]) {
      if (typeof m?.id !== 'string' || typeof m.subject !== 'string' || this.ring.shard(m.id)) continue;
      this.membership.heard({ id: m.id, kind: 'kvs', subject: m.subject, state: m.state, startedAt: 0, at: Date.now() });
    }
  }
}

/** The lock field of what a lock op answered (the decider answers the field itself; a map is taken too). */
function fieldOf(value: Lattice | undefined): Lattice | undefined {
  return value instanceof MapLattice ? (value as MapLattice<Lattice>).get(LOCK_FIELD) : value;
}

// Loops, not Math.min(...xs): spreading some 100k arguments overflows the stack.
function earliestDeadline(ops: (Attempt | Pending)[]): number {
  let min = Infinity;
  for (const o of ops) {
    const deadline = 'pending' in o ? o.pending.deadline : o.deadline;
    if (deadline < min) min = deadline;
  }
  return min;
}

function latestDeadline(ops: Pending[]): number {
  let max = -Infinity;
  for (const p of ops) if (p.deadline > max) max = p.deadline;
  return max;
}
