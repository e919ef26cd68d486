// A KVS shard actor (an Anna node). It owns the keys the consistent-hash
// ring gives it, merges puts into its durable store, gossips merges to the
// other replicas, and moves data when the ring changes:
//   - joining: it pulls the entries it will hold from every active shard
//     before it serves reads; each of those shards forwards later writes to
//     it as gossip from the moment it answers the pull, so none is missed;
//   - leaving (SIGTERM): it hands every entry to the replicas that will hold
//     it, still taking writes meanwhile and forwarding them, and retries what
//     is not acknowledged until a deadline; short of it, stop() rejects;
//   - a shard that dies is noticed by missed heartbeats; every survivor then
//     pushes its entries to the replicas that newly hold them, restoring the
//     replication factor from the copies that are left;
//   - keys it no longer replicates after a change are dropped once their
//     replicas confirm them and the ring has been still a while (UnownedSweep).
// Keys given a lifetime (`put` with `expiresAt`) are deleted at their expiry
// through the same tombstones (storage/shard_store.ts), folded in on a timer
// (EXPIRY_SWEEP_MS) and never read back once due.
// It is also the one decider of its primary keys' `decide` operations
// (first writer wins on a field, see decider.ts) and of their `lock` and
// `unlock` operations (lock_rule.ts); a decided value is stored
// like a put (stamped, so only a later delete removes it) and travels in
// gossip, hand-off and join records like any value.
// A request for a key it does not hold is answered WrongShard with its view
// of the ring, never a silent miss. A key it came to hold by a ring change
// reaches it by hand-off a moment later; until then (a window after the
// change) a read that misses asks the key's previous replicas.

import { Actor, type ActorOptions, type MessageContext } from '../lib/actor/actor.js';
import { actorOptions } from '../lib/actor/node_setup.js';
import { request } from '../lib/actor/rpc.js';
import { arr, encodeMessage, lattice, num, str, type Envelope } from '../lib/codec/index.js';
import { DEFAULT_HANDOFF_TIMEOUT_MS, DEFAULT_TOMBSTONE_RETENTION_MS, type KvsConfig } from '../lib/config.js';
import { deadlineIn } from '../lib/deadline.js';
import { Closed, HandoffIncomplete, JoinIncomplete, NoCapacity, PayloadTooLarge, WrongShard, asCloudburstError } from '../lib/errors.js';
import { KVS_ACCEPT, KVS_BATCH, KVS_GOSSIP, KVS_JOIN, KVS_PEEK, entryToWire, parseOp, parseRecords, recordToWire, type Entry, type KeyRecord, type KvsOp, type KvsResult } from '../lib/kvs/protocol.js';
import { followOverrides } from '../lib/kvs/replication_overrides.js';
import { FREE, encodeLock } from '../lib/kvs/locks.js';
import { KVS_UPDATES } from '../lib/kvs/updates.js';
import { RingView, shardInfo, type ShardInfo, type ShardState } from '../lib/kvs/ring_view.js';
import type { Lattice } from '../lib/lattice/index.js';
import { Membership } from '../lib/membership.js';
import { kvsMetrics } from '../lib/node_metrics.js';
import { RateMeter } from '../lib/rate_meter.js';
import { DecideQuorum, hearsMajority, type QuorumView } from './decide_quorum.js';
import { Decider } from './decider.js';
import { LOCK_FIELD, lockRule } from './lock_rule.js';
import { GossipQueue } from './gossip.js';
import { HotKeys } from './hot_keys.js';
import { KnownShardsFile, loadKnownShards } from './known_shards.js';
import { UnownedSweep } from './unowned_sweep.js';
import { ShardStore } from './storage/index.js';
import { Watches } from './watches.js';

/** The proposal of a lock op's decide, unused: its rule chooses what to keep (lock_rule.ts). */
const FREE_RECORD = encodeLock(FREE);
/** Waits for `work`, or for `ms` to pass, whichever comes first (the work goes on; its failures are its own). */
async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.then(() => undefined, () => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, ms))))]);
  clearTimeout(timer);
}

/** Keys per message when confirming keys with their replicas before dropping them. */
const CONFIRM_BATCH = 512;
/** Entries per page of a join pull. */
const JOIN_PAGE = 1000;
/**
 * How long one page of a join pull may take before it is asked again. A
 * request or its reply can be lost (NATS restarted mid-request, the peer
 * paused or killed after the request reached it); waiting on it longer only
 * holds up the start. A page is at most JOIN_PAGE entries: seconds are ample.
 */
const JOIN_ATTEMPT_MS = 5000;
/** First and longest pause before asking again for a page that failed. */
const JOIN_RETRY_MS = 100;
const JOIN_RETRY_MAX_MS = 2000;
/** How long a pull may go without a page from a peer still in the ring before start() fails with JoinIncomplete. */
const JOIN_STALL_MS = 120_000;
/** First and longest pause between a leaving shard's hand-off rounds that left something unacknowledged. */
const HANDOFF_RETRY_MS = 50;
const HANDOFF_RETRY_MAX_MS = 1000;
/** How long a previous replica may take to answer a read that missed during a hand-off. */
const PEEK_TIMEOUT_MS = 500;
/** How long a replica may take to accept a decided value (under the client's 2 s attempt, so a failure is answered). */
const ACCEPT_TIMEOUT_MS = 1500;
/**
 * How often due expiries become tombstones in memory and on disk. Reads never
 * wait for it (an expired value is never answered); it frees their memory.
 */
const EXPIRY_SWEEP_MS = 1000;

export class KvsNode extends Actor {
  readonly kind = 'kvs' as const;
  readonly subject: string;
  private state: ShardState = 'joining';
  private readonly membership: Membership;
  private readonly ring: RingView;
  private readonly gossip: GossipQueue;
  private readonly hot = new HotKeys();
  private readonly sweep: UnownedSweep;
  private readonly watches: Watches;
  /**
   * Shards that pulled from us before we heard their heartbeat, with when
   * they last pulled (monotonic ms). Only until their heartbeat speaks for them (membership
   * then times them out) or for a member timeout without a pull: a joiner
   * that died before any heartbeat reached us must not stay in the ring.
   */
  private readonly joiners = new Map<string, { info: ShardInfo; seenAt: number }>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private tombstoneTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  /** When checkAway last ran (monotonic ms), and its timer. */
  private lastTick = performance.now();
  private awayTimer: NodeJS.Timeout | undefined;
  private catchingUp = false;
  /**
   * This shard stopped hearing most of the serving shards it knows of (a
   * partition cut it off, or it restarted where it heard none of them): the
   * others may acknowledge writes without it, so it serves no reads until it
   * hears a majority again and has caught up.
   */
  private cutOff = false;
  /** Shards seen serving (active or leaving), kept while heard or remembered: a joiner counts in a majority only once it has served. */
  private readonly served = new Set<string>();
  /** Rings before recent changes, until (monotonic ms) their hand-offs should be done. */
  private handoffs: { before: RingView; until: number }[] = [];
  /** Key snapshots of the join pulls in progress, by joiner. */
  private readonly pulls = new Map<string, string[]>();
  /** Operations asked of this shard, for the load in heartbeats. */
  private readonly ops = new RateMeter();
  private readonly opMetrics: ReturnType<typeof kvsMetrics> | undefined;
  /** Hand-off batches not acknowledged while leaving (tests, logs). */
  private failedHandoffs = 0;
  /** While leaving: every other shard seen in the ring since, in the state it was last seen in. */
  private readonly leavePeers = new Map<string, ShardState>();
  /** Set when the leave ran out of time with keys not handed off: stop() rejects with it. */
  private handoffError: HandoffIncomplete | undefined;
  private readonly decider: Decider;
  private readonly quorum = new DecideQuorum();
  /** The hot-key policy's replication factors, as last heard. */
  private overrides: [string, number][] = [];
  /** Where the known shards are kept across restarts (with a data directory only). */
  private readonly knownShards: KnownShardsFile | undefined;

  constructor(
    opts: ActorOptions,
    private readonly store: ShardStore,
    private readonly config: KvsConfig,
  ) {
    super(opts);
    this.subject = this.subjects.kvsShard(this.id);
    this.membership = new Membership(config.memberTimeoutMs);
    this.ring = new RingView();
    this.gossip = new GossipQueue(
      {
        send: (peer, keys) => this.sendGossip(peer, keys),
        stillWanted: (peer, key) => this.ring.writeReplicas(key).some((r) => r.id === peer),
        delivered: () => {},
        failed: (peer, keys) => {
          if (this.state !== 'leaving') return;
          this.failedHandoffs++;
          this.log.warn({ peer, keys: keys.length }, 'hand-off batch not acknowledged; retrying');
        },
        roundStarted: () => this.opMetrics?.gossipRound(),
      },
      config.gossipMs,
    );
    this.opMetrics = this.metrics && kvsMetrics(this.metrics, { keys: () => this.store.size, gossipQueued: () => this.gossip.queuedKeys });
    this.sweep = new UnownedSweep(
      {
        ringVersion: () => this.ring.version,
        settled: () => this.state === 'active',
        unowned: () => [...this.store.recordKeys()].filter((key) => !this.owns(key)),
        confirm: (keys) => this.confirmReplicas(keys),
        drop: (keys) => this.dropUnowned(keys),
        onError: (err) => this.log.warn({ err }, 'keys no longer owned not dropped'),
      },
      Math.max(1000, 2 * config.memberTimeoutMs),
    );
    this.watches = new Watches({ id: this.id, incarnation: this.incarnation }, (bucket, entries, seq) => this.publishUpdates(bucket, entries, seq));
    this.serve(this.subject, {
      [KVS_BATCH]: (msg) => this.batch(msg),
      [KVS_GOSSIP]: (msg) => this.merge(parseRecords(msg)),
      [KVS_JOIN]: (msg, ctx) => this.join(msg, ctx),
      [KVS_PEEK]: (msg) => this.peek(msg),
      [KVS_ACCEPT]: async (msg) => ({
        value: await this.decider.accept(str(msg, 'from'), str(msg, 'key'), str(msg, 'field'), lattice(msg, 'value'), typeof msg['expiresAt'] === 'number' ? msg['expiresAt'] : 0),
      }),
    });
    this.membership.onChange(() => this.refreshRing());
    this.decider = new Decider({
      id: this.id,
      store: this.store,
      primary: (key) => this.ring.readReplicas(key)[0],
      otherReplicas: (key) => this.ring.writeReplicas(key).filter((r) => r.id !== this.id),
      merged: (key, value) => this.mergedAt(key, value),
      failed: (err, key) => this.log.warn({ err, key }, 'decided value not written to disk'),
      accept: async (r, key, field, value, expiresAt) =>
        lattice(
          (await request(this.transport, r.subject, KVS_ACCEPT, { from: this.id, key, field, value, ...(expiresAt > 0 ? { expiresAt } : {}) }, deadlineIn(ACCEPT_TIMEOUT_MS))) as Envelope,
          'value',
        ),
      wrongShard: (key, what) => this.wrongShard(key, what),
      fromPrevious: (key) => {
        const previous = this.previousReplicas(key);
        return previous.length > 0 ? this.fromPrevious(key, previous) : Promise.resolve();
      },
      refusal: (key, holders) => this.quorum.refusal(key, holders, this.quorumView()),
    });
    if (config.dataDir && config.durability !== 'none') {
      this.knownShards = new KnownShardsFile(config.dataDir, (err) => this.log.warn({ err }, 'known shards not saved'));
    }
  }

  static async create(config: KvsConfig): Promise<KvsNode> {
    const store = await ShardStore.open({
      durability: config.durability,
      ...(config.dataDir ? { dataDir: config.dataDir } : {}),
      holder: config.id ? `kvs shard ${config.id}` : 'a kvs shard',
    });
    return new KvsNode(await actorOptions('kvs', config), store, config);
  }

  /** What this shard itself holds under `key` (status views and tests). */
  localValue(key: string): Lattice | undefined {
    return this.store.get(key);
  }

  /** When this shard's record of `key` expires (ms since the epoch; 0: it does not) (tests, status). */
  localExpiresAt(key: string): number {
    return this.store.expiresAt(key);
  }

  /** How many keys hold a value in this shard's memory (tests, status). */
  get localKeys(): number {
    return this.store.size;
  }

  /** Whether this shard is a replica of `key` in its own view of the ring. */
  holds(key: string): boolean {
    return this.owns(key);
  }

  /** Whether a watcher holds a live lease on `key` here. */
  watching(key: string): boolean {
    return this.watches.has(key);
  }

  override async start(): Promise<void> {
    await super.start();
    const onBad = (err: unknown): void => this.log.debug({ err }, 'bad cluster message');
    // Shards known before a restart count as silent until heard (decide_quorum.ts).
    if (this.knownShards && this.config.dataDir) {
      for (const s of await loadKnownShards(this.config.dataDir)) {
        if (s.id !== this.id) this.membership.remember({ ...s, state: 'active', kind: 'kvs', startedAt: 0, at: 0, seenAt: 0 });
      }
    }
    this.membership.follow(this.transport, this.subjects, onBad);
    followOverrides(this.transport, this.subjects, (o) => this.setOverrides(o), onBad);
    this.gossip.start();
    this.sweepTimer = setInterval(() => {
      if (this.joiners.size > 0 || this.pulls.size > 0) this.refreshRing();
    }, Math.max(10, this.config.memberTimeoutMs / 3));
    this.sweepTimer.unref();
    // Tombstones are kept for the retention, collected within a tenth more.
    const retention = this.config.tombstoneRetentionMs ?? DEFAULT_TOMBSTONE_RETENTION_MS;
    this.tombstoneTimer = setInterval(() => {
      this.store.collectTombstones(Date.now() - retention).catch((err: unknown) => this.log.warn({ err }, 'tombstones not collected'));
    }, Math.min(60_000, Math.max(10, retention / 10)));
    this.tombstoneTimer.unref();
    this.expiryTimer = setInterval(() => {
      this.store.expireDue().catch((err: unknown) => this.log.warn({ err }, 'expired keys not folded into tombstones'));
    }, EXPIRY_SWEEP_MS);
    this.expiryTimer.unref();
    this.lastTick = performance.now();
    this.awayTimer = setInterval(() => {
      this.checkAway();
      // Also without a membership change: silent shards are forgotten after a minute with no event.
      this.watchMajority();
    }, Math.max(10, this.config.memberTimeoutMs / 3));
    this.awayTimer.unref();
    // Everyone answers the ping at once; a short window hears them all.
    await this.membership.waitFor(() => false, Math.min(this.config.heartbeatMs, 250));
    this.refreshRing();
    for (const shard of this.ring.members.filter((s) => s.state === 'active' && s.id !== this.id)) {
      await this.pullFrom(shard);
    }
    this.setState('active');
    this.log.info({ keys: this.store.size }, 'shard active');
  }

  protected override heartbeatFields(): Record<string, unknown> {
    return {
      state: this.state,
      replication: this.config.replication,
      keys: this.store.size,
      watched: this.watches.size,
      pushes: this.watches.heartbeat(),
      hot: this.hot.take(10),
      opsPerSec: this.ops.take(),
    };
  }

  /** Hand-off batches not acknowledged so far while leaving (each is retried). */
  get handoffFailures(): number {
    return this.failedHandoffs;
  }

  /** Stops; rejects with HandoffIncomplete when the leave ran out of time with keys not handed off. */
  override async stop(): Promise<void> {
    await super.stop();
    if (this.handoffError) throw this.handoffError;
  }

  protected override async beforeStop(): Promise<void> {
    if (this.state !== 'active') return;
    // Leaving changes the ring: every entry is queued for the replicas that
    // hold it once we are gone (onRingChange); send them all before going.
    // A batch that fails is queued again while its peer should hold it, and
    // a ring change (the peer declared dead, back, another taking over)
    // queues the keys for whoever holds them now; so we are done once
    // nothing is queued or in flight and someone is left to hold our keys.
    this.setState('leaving');
    const deadline = performance.now() + (this.config.handoffTimeoutMs ?? DEFAULT_HANDOFF_TIMEOUT_MS);
    let pause = HANDOFF_RETRY_MS;
    for (;;) {
      // Bounded by the hand-off deadline: one gossip request can wait ten
      // gossip rounds for an answer that a peer stopping or a route just
      // healed never sends (a test with minute-long rounds hung its
      // teardown past tap's 240 s).
      await within(this.gossip.flush(), deadline - performance.now());
      if (this.handedOff()) return;
      const left = deadline - performance.now();
      if (left <= 0) break;
      const version = this.ring.version;
      await this.membership.waitFor(() => this.ring.version !== version, Math.min(pause, left));
      pause = Math.min(2 * pause, HANDOFF_RETRY_MAX_MS);
    }
    const keys = this.ring.targetReplicas('').length === 0 ? this.store.size + this.store.tombstones : this.gossip.queuedKeys;
    this.handoffError = new HandoffIncomplete(`shard ${this.id} stopped with ${keys} keys not acknowledged by a shard that keeps them`, {
      data: { keys, failedBatches: this.failedHandoffs },
    });
    this.log.error({ err: this.handoffError }, 'hand-off incomplete');
  }

  /**
   * Nothing left to send, and some shard other than this one holds what it
   * had; or no shard is left to, and every shard seen since the leave began
   * was leaving too (the whole cluster is stopping): what this shard holds
   * stays in its data directory, or is dropped if it keeps none. A shard
   * that vanished while active (dead, paused) may come back: wait for it.
   */
  private handedOff(): boolean {
    if (!this.gossip.idle) return false;
    const held = this.store.size + this.store.tombstones;
    if (held === 0 || this.ring.targetReplicas('').length > 0) return true;
    if (![...this.leavePeers.values()].every((s) => s === 'leaving')) return false;
    // Info, not a warning: a memory-only cluster that stops drops its keys by choice (--durability none).
    if (this.config.durability === 'none') this.log.info({ keys: held }, 'no shard left to hand keys to (the cluster is stopping): dropped, memory only');
    else this.log.info({ keys: held, dataDir: this.config.dataDir }, 'no shard left to hand keys to (the cluster is stopping): they stay on disk');
    return true;
  }

  protected override async onStop(): Promise<void> {
    this.gossip.stop();
    this.sweep.stop();
    clearInterval(this.sweepTimer);
    clearInterval(this.tombstoneTimer);
    clearInterval(this.expiryTimer);
    clearInterval(this.awayTimer);
    await this.knownShards?.flushed();
    await this.store.close();
  }

  /**
   * Catches up when this shard comes back from not running for longer than
   * the member timeout (SIGSTOP, a stalled machine): its peers took it for
   * gone and acknowledged writes without it, so what it holds may be old.
   * Checked on a timer and before every batch, since the messages that
   * waited in its socket are the first thing it handles when it runs again.
   */
  private checkAway(): void {
    const now = performance.now();
    const awayMs = now - this.lastTick;
    this.lastTick = now;
    if (awayMs > this.config.memberTimeoutMs && this.state === 'active' && !this.catchingUp) {
      void this.catchUp(`did not run for ${Math.round(awayMs)} ms, longer than the member timeout`);
    }
  }

  /** Catches up (catchUp) when this shard hears a majority of the shards it knows again, after it did not. */
  private watchMajority(view?: QuorumView): void {
    // Starting, catching up or leaving: what it hears then says nothing of what it missed while serving.
    if (this.state !== 'active' || this.catchingUp) return;
    if (!hearsMajority(view ?? this.quorumView())) {
      if (!this.cutOff) this.log.warn('hears fewer than half of the serving shards it knows of: it will catch up once it hears them');
      this.cutOff = true;
      return;
    }
    if (!this.cutOff) return;
    this.cutOff = false;
    void this.catchUp('heard a majority of the shards it knows again');
  }

  /**
   * Rejoins as a starting shard joins: announces `joining` (clients read
   * elsewhere, and reads that reach it anyway are refused), asks every node
   * to announce itself, pulls from its active peers, then serves again.
   */
  private async catchUp(why: string): Promise<void> {
    this.catchingUp = true;
    this.log.warn({ why }, 'catching up before serving reads');
    this.setState('joining');
    try {
      this.transport.publish(this.subjects.membersPing, encodeMessage('ping', {}));
      await this.membership.waitFor(() => false, Math.min(this.config.heartbeatMs, 250));
      this.refreshRing();
      for (const shard of this.ring.members.filter((s) => s.state === 'active' && s.id !== this.id)) await this.pullFrom(shard);
    } catch (err) {
      this.log.error({ err }, 'catching up failed: serving what this shard holds');
    } finally {
      this.catchingUp = false;
      if (this.state === 'joining') this.setState('active');
    }
  }

  private setState(state: ShardState): void {
    this.state = state;
    this.refreshRing();
    this.heartbeat();
  }

  private refreshRing(): void {
    const shards = new Map<string, ShardInfo>();
    for (const m of this.membership.live('kvs')) {
      shards.set(m.id, shardInfo(m));
      // Once its own heartbeat speaks for a joiner (in whatever state), it no
      // longer needs ours: membership drops it when its heartbeats stop.
      this.joiners.delete(m.id);
    }
    const now = performance.now();
    for (const [id, j] of this.joiners) {
      if (now - j.seenAt > this.config.memberTimeoutMs) this.joiners.delete(id);
      else shards.set(id, j.info);
    }
    shards.set(this.id, { id: this.id, subject: this.subject, state: this.state, replication: this.config.replication });
    // A pull whose joiner is gone will never ask for its next page.
    for (const id of this.pulls.keys()) if (!shards.has(id)) this.pulls.delete(id);
    const before = this.ring.clone();
    if (this.ring.update(shards.values())) this.onRingChange(before);
    // One view for both: what a restart should remember, and whether this shard hears a majority.
    const view = this.quorumView();
    this.knownShards?.save([...view.heard, ...view.silent]);
    this.watchMajority(view);
    if (this.state === 'leaving') for (const s of this.ring.members) if (s.id !== this.id) this.leavePeers.set(s.id, s.state);
  }

  /** What decide_quorum.ts weighs: the shards that have served, heard now or known but silent. */
  private quorumView(): QuorumView {
    const silent = this.membership.silentMembers('kvs').map(shardInfo);
    const heard = this.ring.members.filter((s) => s.id !== this.id);
    // Shards seen serving, while they are heard or remembered (bounded by the membership).
    for (const s of [...heard, ...silent]) if (s.state !== 'joining') this.served.add(s.id);
    const around = new Set([...heard, ...silent].map((s) => s.id));
    for (const id of this.served) if (!around.has(id)) this.served.delete(id);
    return {
      self: { id: this.id, subject: this.subject, state: this.state, replication: this.config.replication },
      heard: heard.filter((s) => this.served.has(s.id)),
      silent: silent.filter((s) => this.served.has(s.id)),
      overrides: this.overrides,
    };
  }

  private setOverrides(overrides: [string, number][]): void {
    this.overrides = overrides;
    const before = this.ring.clone();
    if (this.ring.setOverrides(overrides)) this.onRingChange(before);
  }

  /** Pushes each entry to replicas that hold it now but did not before. */
  private onRingChange(old: RingView): void {
    const now = performance.now();
    // Pushes go in gossip rounds; a hand-off of many entries takes several.
    this.handoffs = [...this.handoffs.filter((h) => h.until > now), { before: old, until: now + 10_000 + 50 * this.config.gossipMs }];
    this.gossip.retainPeers((peer) => this.ring.shard(peer) !== undefined);
    this.sweep.ringChanged();
    // Only a key's primary pushes its merges. Between the old primary's last
    // push (it died, or stopped seeing itself first) and now, nobody pushed:
    // the new primary sends each leased key's value once.
    for (const key of this.watches.keys()) {
      if (this.ring.readReplicas(key)[0]?.id !== this.id || old.readReplicas(key)[0]?.id === this.id) continue;
      const value = this.store.get(key);
      if (value) this.watches.merged(key, value, this.store.expiresAt(key));
    }
    for (const key of this.store.recordKeys()) {
      const had = new Set(old.writeReplicas(key).map((s) => s.id));
      this.queueFor(
        key,
        this.ring.writeReplicas(key).filter((s) => !had.has(s.id)),
      );
    }
  }

  /** How many keys wait for gossip to some peer (tests, status). */
  get gossipBacklog(): number {
    return this.gossip.queuedKeys;
  }

  /** No gossip queued or in flight: every push so far was acknowledged or given up (tests). */
  get gossipIdle(): boolean {
    return this.gossip.idle;
  }

  /** This shard's view of the ring's members (tests, status). */
  ringMembers(): ShardInfo[] {
    return this.ring.members;
  }

  private queueFor(key: string, replicas: ShardInfo[]): void {
    for (const r of replicas) if (r.id !== this.id) this.gossip.add(r.id, key);
  }

  private owns(key: string): boolean {
    return this.ring.writeReplicas(key).some((s) => s.id === this.id);
  }

  /** Sends each key's record to every shard that replicates it now; resolves with the keys all of them acknowledged. */
  private async confirmReplicas(keys: string[]): Promise<string[]> {
    const byPeer = new Map<string, string[]>();
    for (const key of keys) {
      for (const r of this.ring.writeReplicas(key)) {
        let list = byPeer.get(r.id);
        if (!list) byPeer.set(r.id, (list = []));
        list.push(key);
      }
    }
    const failed = new Set<string>();
    await Promise.all(
      [...byPeer].map(async ([peer, list]) => {
        for (let i = 0; i < list.length; i += CONFIRM_BATCH) {
          const batch = list.slice(i, i + CONFIRM_BATCH);
          await this.sendGossip(peer, batch).catch(() => batch.forEach((k) => failed.add(k)));
        }
      }),
    );
    // A key no shard replicates (no other shard in the ring) is never confirmed.
    return keys.filter((key) => !failed.has(key) && this.ring.writeReplicas(key).length > 0);
  }

  /** Drops keys this shard still does not replicate (memory and disk); no tombstone, the replicas keep the key. */
  private async dropUnowned(keys: string[]): Promise<void> {
    const dropping = keys.filter((key) => !this.owns(key));
    await Promise.all(dropping.map((key) => this.store.forget(key)));
    if (dropping.length > 0) this.log.info({ keys: dropping.length }, 'dropped keys no longer replicated here');
  }

  private async sendGossip(peer: string, keys: string[]): Promise<void> {
    const shard = this.ring.shard(peer);
    // Not delivered: the gossip queue drops the keys (the peer is no longer
    // wanted) instead of taking them as acknowledged.
    if (!shard) throw new NoCapacity(`shard ${peer} left the ring`);
    const records = this.recordsOf(keys);
    if (records.length > 0) await request(this.transport, shard.subject, KVS_GOSSIP, { records }, deadlineIn(10 * this.config.gossipMs + 2000));
  }

  /** The wire records (values and tombstones) this shard has for `keys`. */
  private recordsOf(keys: Iterable<unknown>): unknown[] {
    const records: unknown[] = [];
    for (const key of keys) {
      const record = typeof key === 'string' ? this.store.record(key) : undefined;
      if (record) records.push(recordToWire(key as string, record));
    }
    return records;
  }

  private async merge(records: { key: string; record: KeyRecord }[]): Promise<Record<string, never>> {
    const results = await this.store.mergeRecords(records);
    results.forEach((r, i) => {
      if ('error' in r) this.log.warn({ err: r.error }, 'gossip record not merged');
      else if (r.merged && records[i]!.record.value) this.mergedAt(records[i]!.key, r.merged);
    });
    return {};
  }

  /** The key's primary replica tells watchers of every merge, with the key's expiry. */
  private mergedAt(key: string, merged: Lattice): void {
    if (this.ring.readReplicas(key)[0]?.id === this.id) this.watches.merged(key, merged, this.store.expiresAt(key));
  }

  /** Runs at the end of a tick (nobody awaits it): a throw here would end the process. */
  private publishUpdates(bucket: number, entries: Entry[], seq: number): void {
    const subject = this.subjects.updates(bucket);
    const from = { shard: this.id, inc: this.incarnation, seq };
    try {
      try {
        this.transport.publish(subject, encodeMessage(KVS_UPDATES, { entries: entries.map(entryToWire), ...from }, this.transport.maxPayload));
      } catch (err) {
        if (!(err instanceof PayloadTooLarge)) throw err;
        // Too large for one message: say which keys changed; watchers fetch them.
        this.transport.publish(subject, encodeMessage(KVS_UPDATES, { entries: [], stale: entries.map(([key]) => key), ...from }));
      }
    } catch (err) {
      // Closed: the shard stopped during the tick, and its watchers find the lost push from its next start's heartbeat.
      if (!(err instanceof Closed)) this.log.warn({ err, bucket }, 'merge push not published; watchers will read the keys again');
    }
  }

  private async batch(msg: Envelope): Promise<{ results: KvsResult[] }> {
    this.checkAway();
    const ops = arr(msg, 'ops');
    this.ops.add(ops.length);
    // A client that routed by the same ring wrote every replica itself.
    // Otherwise it may have missed some, so this shard passes the writes on
    // to the other replicas before it answers: an acknowledged write is then
    // on every replica this shard knows of, whatever ring the client had.
    const sameRing = msg['ring'] === this.ring.version;
    const forward = new Set<string>();
    const results: KvsResult[] = new Array<KvsResult>(ops.length);
    const puts: { i: number; op: Extract<KvsOp, { op: 'put' }> }[] = [];
    const pending: Promise<unknown>[] = [];
    ops.forEach((raw, i) => {
      try {
        const op = parseOp(raw);
        this.opMetrics?.op(op.op);
        if (!this.owns(op.key)) throw this.wrongShard(op.key);
        this.hot.count(op.key);
        if (op.op === 'get') {
          // Joining (starting, or catching up after a pause): what it holds may be old.
          if (this.state === 'joining' && !op.local) throw this.wrongShard(op.key, 'is catching up and serves no reads of');
          // Cut off from most shards it knows: they may be acknowledging writes it does not see.
          if (this.cutOff && !op.local) throw new NoCapacity(`shard ${this.id} hears fewer than half of the serving shards it knows of and serves no reads until it hears them again and has caught up`);
          const answer = (): KvsResult => {
            const value = this.store.get(op.key);
            const expiresAt = this.store.expiresAt(op.key);
            return value === undefined ? {} : expiresAt > 0 ? { value, expiresAt } : { value };
          };
          // A key this shard came to hold by a recent ring change: what the previous replicas hold first.
          const previous = op.local ? [] : this.previousReplicas(op.key);
          const served = op.local || previous.length > 0 ? [] : this.servedBefore(op.key);
          if (previous.length === 0 && served.length === 0) results[i] = answer();
          else {
            pending.push(
              (previous.length > 0 ? this.fromPrevious(op.key, previous) : this.askServedBefore(op.key, served)).then(
                () => (results[i] = answer()),
                (err: unknown) => (results[i] = { error: asCloudburstError(err).toWire() }),
              ),
            );
          }
        } else if (op.op === 'put') {
          puts.push({ i, op });
        } else if (op.op === 'watch') {
          results[i] = { lease: this.watches.watch(op.key, op.ttlMs) };
        } else if (op.op === 'decide' || op.op === 'lock' || op.op === 'unlock' || op.op === 'seal') {
          const decided = op.op === 'decide' ? this.decider.decide(op.key, op.field, op.value) : this.decider.decide(op.key, LOCK_FIELD, FREE_RECORD, lockRule(op));
          pending.push(
            decided.then(
              (value) => (results[i] = { value }),
              (err: unknown) => (results[i] = { error: asCloudburstError(err).toWire() }),
            ),
          );
        } else {
          // The tombstone replicates like a put (and is applied in memory
          // at once, before the forward below reads it).
          results[i] = {};
          pending.push(this.store.delete(op.key));
          if (!sameRing) forward.add(op.key);
        }
      } catch (err) {
        results[i] = { error: asCloudburstError(err).toWire() };
      }
    });
    if (puts.length > 0) {
      const stored = await this.store.putMany(puts.map(({ op }) => ({ key: op.key, value: op.value, expiresAt: op.expiresAt ?? 0 })));
      puts.forEach(({ i, op }, j) => {
        const r = stored[j]!;
        if ('error' in r) {
          results[i] = { error: r.error.toWire() };
        } else {
          results[i] = {};
          // No value: it expired before it arrived, which deleted the key (the tombstone replicates like a delete's).
          if (r.merged) this.mergedAt(op.key, r.merged);
          if (!sameRing) forward.add(op.key);
        }
      });
    }
    await Promise.all([...pending, this.forward([...forward])]);
    return { results };
  }

  /** Sends `keys` to their other replicas now; what fails is left to gossip rounds. */
  private async forward(keys: string[]): Promise<void> {
    const byPeer = new Map<string, string[]>();
    for (const key of keys) {
      for (const r of this.ring.writeReplicas(key)) {
        if (r.id === this.id) continue;
        let list = byPeer.get(r.id);
        if (!list) byPeer.set(r.id, (list = []));
        list.push(key);
      }
    }
    await Promise.all(
      [...byPeer].map(([peer, list]) =>
        this.sendGossip(peer, list).catch(() => {
          for (const key of list) this.gossip.add(peer, key);
        }),
      ),
    );
  }

  /**
   * The shards that held `key` before a ring change still in hand-off made
   * this shard one of its replicas (none when it served the key before),
   * live or not.
   */
  private previousReplicas(key: string): ShardInfo[] {
    const now = performance.now();
    const found = new Map<string, ShardInfo>();
    for (const { before, until } of this.handoffs) {
      const replicas = before.writeReplicas(key);
      if (until <= now || replicas.some((s) => s.id === this.id)) continue;
      for (const s of replicas) found.set(s.id, s);
    }
    return [...found.values()];
  }

  /**
   * After a change that made this shard start serving (its own join, or a
   * catch-up), still in hand-off: the shards that served `key` before, other
   * than this one, live. It was written while joining by writers whose ring
   * had it, but a writer whose ring was from before the join (and a shard
   * sharing that ring, which passes nothing on) wrote only those (the fault
   * harness saw a joiner answer a function's read with only its own put).
   */
  private servedBefore(key: string): ShardInfo[] {
    const now = performance.now();
    const found = new Map<string, ShardInfo>();
    for (const { before, until } of this.handoffs) {
      if (until <= now || before.shard(this.id)?.state !== 'joining') continue;
      for (const s of before.readReplicas(key)) if (s.id !== this.id && this.ring.shard(s.id) !== undefined) found.set(s.id, s);
    }
    return [...found.values()];
  }

  /**
   * Merges in what the shards that served `key` before hold (servedBefore),
   * best effort: what answers within the peek timeout. Unlike fromPrevious it
   * never refuses: this shard pulled every key at its join, and only writes
   * from writers with an older ring can be missing; a shard that answers
   * nothing (gone, or leaving) must not stall the read.
   */
  private async askServedBefore(key: string, served: ShardInfo[]): Promise<void> {
    const answers = await this.peekAt(served, key);
    await this.merge(answers.flatMap((a) => a ?? []));
  }

  /** What each of `shards` holds for `key` (its records), or undefined for one that did not answer within PEEK_TIMEOUT_MS. */
  private peekAt(shards: ShardInfo[], key: string): Promise<(ReturnType<typeof parseRecords> | undefined)[]> {
    return Promise.all(
      shards.map((r) =>
        request(this.transport, r.subject, KVS_PEEK, { keys: [key] }, deadlineIn(PEEK_TIMEOUT_MS)).then(
          (body) => parseRecords(body as Record<string, unknown>),
          () => undefined,
        ),
      ),
    );
  }

  /**
   * Before this shard serves `key` (a read, a decide) while a ring change
   * that made it one of the key's replicas is in hand-off (`previous`, from
   * previousReplicas, not empty): what it holds may
   * be nothing yet, or a copy left from an earlier time it held the key, so
   * it asks the shards that held the key before and keeps what they answer.
   * If none answers and one may hold writes this shard never saw (it is in
   * the ring but did not answer in time, or it went silent rather than
   * leaving: dead, paused, or cut off from this shard by a partition), the
   * shard refuses (NoCapacity, which clients retry) rather than answer a
   * read as absent or stale, or decide a field afresh. A previous replica
   * that left with a `leave` is not waited for: it handed its keys off first.
   */
  private async fromPrevious(key: string, previous: ShardInfo[]): Promise<void> {
    const live = previous.filter((s) => this.ring.shard(s.id) !== undefined);
    const answers = await this.peekAt(live, key);
    const records = answers.filter((a) => a !== undefined);
    if (records.length > 0) {
      await this.merge(records.flat());
      // One answered "nothing" while another said nothing at all: that one may hold it.
      if (this.store.get(key) !== undefined || records.length === live.length) return;
    }
    if (live.length > 0 || previous.some((s) => this.membership.wentSilent(s.id))) {
      const why =
        live.length === 0 ? 'none of them is in its ring (dead, or cut off)' : records.length === 0 ? 'none of them answered' : 'it holds nothing and not all of them answered';
      throw new NoCapacity(`shard ${this.id} took over "${key}" from ${previous.map((s) => s.id).join(', ')} and ${why}`);
    }
  }

  /** The records (values, tombstones) this shard holds for the keys asked, owned or not. */
  private peek(msg: Envelope): { records: unknown[] } {
    return { records: this.recordsOf(arr(msg, 'keys')) };
  }

  private wrongShard(key: string, what = 'does not hold'): WrongShard {
    return new WrongShard(`shard ${this.id} ${what} key "${key}"`, { data: { members: this.ring.members } });
  }

  /** Serves one page of a joiner's pull; the first page registers the joiner. */
  private join(msg: Envelope, _ctx: MessageContext): { records: unknown[]; next?: number } {
    const joiner: ShardInfo = { id: str(msg, 'id'), subject: str(msg, 'subject'), state: 'joining' };
    const cursor = num(msg, 'cursor');
    if (!this.membership.live('kvs').some((m) => m.id === joiner.id)) this.joiners.set(joiner.id, { info: joiner, seenAt: performance.now() });
    if (cursor === 0) {
      // From here on, writes of the joiner's keys are forwarded to it (the
      // ring version changes, so the batch path gossips them).
      this.refreshRing();
      this.pulls.set(joiner.id, [...this.store.recordKeys()].filter((k) => this.ring.targetReplicas(k).some((s) => s.id === joiner.id)));
    }
    const keys = this.pulls.get(joiner.id);
    // Its snapshot was dropped (the joiner was silent past the member
    // timeout, e.g. paused): it must start its pull again, not end it early.
    if (!keys) return { records: [], next: 0 };
    const page = keys.slice(cursor, cursor + JOIN_PAGE);
    const records = this.recordsOf(page);
    const next = cursor + page.length;
    if (next >= keys.length) {
      this.pulls.delete(joiner.id);
      return { records };
    }
    return { records, next };
  }

  /**
   * Pulls `shard`'s entries for us page by page. A page that fails or times
   * out is asked again, same cursor (the peer's `join` serves a page again
   * from its snapshot; cursor 0 takes a new one; a dropped snapshot answers
   * `next: 0`, a new start), while the peer is in our ring. A peer that left
   * it (died, paused past the member timeout, left) is skipped, as a shard
   * already dead at our start is: its keys are on the other replicas, which
   * we also pull from.
   * JoinIncomplete when a peer still in the ring sends no page for
   * JOIN_STALL_MS; a slow pull that keeps getting pages is never cut short.
   */
  private async pullFrom(shard: ShardInfo): Promise<void> {
    let cursor: number | undefined = 0;
    let lastPage = performance.now();
    let pause = JOIN_RETRY_MS;
    const gone = (): boolean => this.ring.shard(shard.id) === undefined;
    while (cursor !== undefined) {
      let body: Record<string, unknown>;
      try {
        body = (await request(this.transport, shard.subject, KVS_JOIN, { id: this.id, subject: this.subject, cursor }, deadlineIn(JOIN_ATTEMPT_MS))) as Record<string, unknown>;
      } catch (err) {
        const skip = (): void => this.log.warn({ peer: shard.id, cursor, err }, 'join pull: peer left the ring; its keys come from the other replicas');
        if (gone()) return skip();
        if (performance.now() - lastPage >= JOIN_STALL_MS) {
          throw new JoinIncomplete(`shard ${this.id} got no page of its join pull from ${shard.id} for ${JOIN_STALL_MS} ms`, {
            cause: err,
            data: { peer: shard.id, cursor },
          });
        }
        this.log.warn({ peer: shard.id, cursor, err }, 'join pull: page not answered; asking again');
        // Wakes early when the peer leaves the ring.
        if (await this.membership.waitFor(gone, pause)) return skip();
        pause = Math.min(2 * pause, JOIN_RETRY_MAX_MS);
        continue;
      }
      lastPage = performance.now();
      pause = JOIN_RETRY_MS;
      await this.merge(parseRecords(body));
      cursor = typeof body['next'] === 'number' ? body['next'] : undefined;
    }
  }
}
