// A KVS shard actor (an Anna node). It owns the keys the consistent-hash
// ring gives it, merges puts into its durable store, gossips merges to the
// other replicas, and moves data when the ring changes:
//   - joining: it pulls the entries it will hold from every active shard
//     before it serves reads; each of those shards forwards later writes to
//     it as gossip from the moment it answers the pull, so none is missed;
//   - leaving (SIGTERM): it hands every entry to the replicas that will hold
//     it, still taking writes meanwhile and forwarding them;
//   - a shard that dies is noticed by missed heartbeats; every survivor then
//     pushes its entries to the replicas that newly hold them, restoring the
//     replication factor from the copies that are left.
// A request for a key it does not hold is answered WrongShard with its view
// of the ring, never a silent miss. A key it came to hold by a ring change
// reaches it by hand-off a moment later; until then (a window after the
// change) a read that misses asks the key's previous replicas.

import { Actor, type ActorOptions, type MessageContext } from '../lib/actor/actor.js';
import { actorOptions } from '../lib/actor/node_setup.js';
import { request } from '../lib/actor/rpc.js';
import { arr, encodeMessage, num, str, type Envelope } from '../lib/codec/index.js';
import type { KvsConfig } from '../lib/config.js';
import { deadlineIn } from '../lib/deadline.js';
import { PayloadTooLarge, WrongShard, asCloudburstError } from '../lib/errors.js';
import { KVS_BATCH, KVS_GOSSIP, KVS_JOIN, KVS_PEEK, parseEntries, parseOp, type Entry, type KvsOp, type KvsResult } from '../lib/kvs/protocol.js';
import { followOverrides } from '../lib/kvs/replication_overrides.js';
import { KVS_UPDATES } from '../lib/kvs/updates.js';
import { RingView, shardInfo, type ShardInfo, type ShardState } from '../lib/kvs/ring_view.js';
import type { Lattice } from '../lib/lattice/index.js';
import { Membership } from '../lib/membership.js';
import { kvsMetrics } from '../lib/node_metrics.js';
import { RateMeter } from '../lib/rate_meter.js';
import { GossipQueue } from './gossip.js';
import { HotKeys } from './hot_keys.js';
import { ShardStore } from './storage/index.js';
import { Watches } from './watches.js';

/** Entries per page of a join pull. */
const JOIN_PAGE = 1000;
/** How long a previous replica may take to answer a read that missed during a hand-off. */
const PEEK_TIMEOUT_MS = 500;

export class KvsNode extends Actor {
  readonly kind = 'kvs' as const;
  readonly subject: string;
  private state: ShardState = 'joining';
  private readonly membership: Membership;
  private readonly ring: RingView;
  private readonly gossip: GossipQueue;
  private readonly hot = new HotKeys();
  private readonly watches: Watches;
  /** Shards that pulled from us before their heartbeat said they were joining. */
  private readonly joiners = new Map<string, ShardInfo>();
  /** Rings before recent changes, until their hand-offs should be done. */
  private handoffs: { before: RingView; until: number }[] = [];
  /** Key snapshots of the join pulls in progress, by joiner. */
  private readonly pulls = new Map<string, string[]>();
  /** Operations asked of this shard, for the load in heartbeats. */
  private readonly ops = new RateMeter();
  private readonly opMetrics: ReturnType<typeof kvsMetrics> | undefined;

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
        delivered: (_peer, keys) => this.dropUnowned(keys),
        roundStarted: () => this.opMetrics?.gossipRound(),
      },
      config.gossipMs,
    );
    this.opMetrics = this.metrics && kvsMetrics(this.metrics, { keys: () => this.store.size, gossipQueued: () => this.gossip.queuedKeys });
    this.watches = new Watches((bucket, entries) => this.publishUpdates(bucket, entries));
    this.serve(this.subject, {
      [KVS_BATCH]: (msg) => this.batch(msg),
      [KVS_GOSSIP]: (msg) => this.merge(parseEntries(msg)),
      [KVS_JOIN]: (msg, ctx) => this.join(msg, ctx),
      [KVS_PEEK]: (msg) => this.peek(msg),
    });
    this.membership.onChange(() => this.refreshRing());
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
    this.membership.follow(this.transport, this.subjects, onBad);
    followOverrides(this.transport, this.subjects, (o) => this.setOverrides(o), onBad);
    this.gossip.start();
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
      hot: this.hot.take(10),
      opsPerSec: this.ops.take(),
    };
  }

  protected override async beforeStop(): Promise<void> {
    if (this.state !== 'active') return;
    // Leaving changes the ring: every entry is queued for the replicas that
    // hold it once we are gone (onRingChange); send them all before going.
    this.setState('leaving');
    await this.gossip.flush();
  }

  protected override async onStop(): Promise<void> {
    this.gossip.stop();
    await this.store.close();
  }

  private setState(state: ShardState): void {
    this.state = state;
    this.refreshRing();
    this.heartbeat();
  }

  private refreshRing(): void {
    const shards = new Map<string, ShardInfo>();
    for (const j of this.joiners.values()) shards.set(j.id, j);
    for (const m of this.membership.live('kvs')) {
      const info = shardInfo(m);
      shards.set(m.id, info);
      // Once its own heartbeat speaks for a joiner, it no longer needs ours.
      if (info.state !== 'joining') this.joiners.delete(m.id);
    }
    shards.set(this.id, { id: this.id, subject: this.subject, state: this.state, replication: this.config.replication });
    const before = this.ring.clone();
    if (this.ring.update(shards.values())) this.onRingChange(before);
  }

  private setOverrides(overrides: [string, number][]): void {
    const before = this.ring.clone();
    if (this.ring.setOverrides(overrides)) this.onRingChange(before);
  }

  /** Pushes each entry to replicas that hold it now but did not before. */
  private onRingChange(old: RingView): void {
    const now = Date.now();
    // Pushes go in gossip rounds; a hand-off of many entries takes several.
    this.handoffs = [...this.handoffs.filter((h) => h.until > now), { before: old, until: now + 10_000 + 50 * this.config.gossipMs }];
    for (const key of this.store.keys()) {
      const had = new Set(old.writeReplicas(key).map((s) => s.id));
      this.queueFor(
        key,
        this.ring.writeReplicas(key).filter((s) => !had.has(s.id)),
      );
    }
  }

  private queueFor(key: string, replicas: ShardInfo[]): void {
    for (const r of replicas) if (r.id !== this.id) this.gossip.add(r.id, key);
  }

  private owns(key: string): boolean {
    return this.ring.writeReplicas(key).some((s) => s.id === this.id);
  }

  /** After a hand-off, entries this shard no longer holds are dropped. */
  private dropUnowned(keys: string[]): void {
    if (this.state === 'leaving') return;
    for (const key of keys) if (!this.owns(key)) void this.store.delete(key);
  }

  private async sendGossip(peer: string, keys: string[]): Promise<void> {
    const shard = this.ring.shard(peer);
    if (!shard) return;
    const entries: Entry[] = [];
    for (const key of keys) {
      const value = this.store.get(key);
      if (value) entries.push([key, value]);
    }
    if (entries.length > 0) await request(this.transport, shard.subject, KVS_GOSSIP, { entries }, deadlineIn(10 * this.config.gossipMs + 2000));
  }

  private async merge(entries: Entry[]): Promise<Record<string, never>> {
    const results = await this.store.putMany(entries.map(([key, value]) => ({ key, value })));
    results.forEach((r, i) => {
      if ('error' in r) this.log.warn({ err: r.error }, 'gossip entry not merged');
      else this.mergedAt(entries[i]![0], r.merged);
    });
    return {};
  }

  /** The key's primary replica tells watchers of every merge. */
  private mergedAt(key: string, merged: Lattice): void {
    if (this.ring.readReplicas(key)[0]?.id === this.id) this.watches.merged(key, merged);
  }

  private publishUpdates(bucket: number, entries: Entry[]): void {
    const subject = this.subjects.updates(bucket);
    try {
      this.transport.publish(subject, encodeMessage(KVS_UPDATES, { entries }, this.transport.maxPayload));
    } catch (err) {
      if (!(err instanceof PayloadTooLarge)) throw err;
      // Too large for one message: say which keys changed; watchers fetch them.
      this.transport.publish(subject, encodeMessage(KVS_UPDATES, { entries: [], stale: entries.map(([key]) => key) }));
    }
  }

  private async batch(msg: Envelope): Promise<{ results: KvsResult[] }> {
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
          const value = this.store.get(op.key);
          results[i] = value === undefined ? {} : { value };
          const previous = value === undefined && !op.local ? this.previousReplicas(op.key) : [];
          if (previous.length > 0) pending.push(this.readFrom(previous, op.key).then((found) => (results[i] = found === undefined ? {} : { value: found })));
        } else if (op.op === 'put') {
          puts.push({ i, op });
        } else if (op.op === 'watch') {
          this.watches.watch(op.key, op.ttlMs);
          results[i] = {};
        } else {
          results[i] = {};
          pending.push(this.store.delete(op.key));
        }
      } catch (err) {
        results[i] = { error: asCloudburstError(err).toWire() };
      }
    });
    if (puts.length > 0) {
      const stored = await this.store.putMany(puts.map(({ op }) => ({ key: op.key, value: op.value })));
      puts.forEach(({ i, op }, j) => {
        const r = stored[j]!;
        if ('error' in r) {
          results[i] = { error: r.error.toWire() };
        } else {
          results[i] = {};
          this.mergedAt(op.key, r.merged);
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
   * The live shards that held `key` before a ring change still in hand-off
   * made this shard one of its replicas (none when it held the key before).
   */
  private previousReplicas(key: string): ShardInfo[] {
    const now = Date.now();
    const found = new Map<string, ShardInfo>();
    for (const { before, until } of this.handoffs) {
      const replicas = before.writeReplicas(key);
      if (until <= now || replicas.some((s) => s.id === this.id)) continue;
      for (const s of replicas) if (this.ring.shard(s.id)) found.set(s.id, s);
    }
    return [...found.values()];
  }

  /** Reads `key` from `replicas` and keeps what they hold; a replica that does not answer in time is skipped. */
  private async readFrom(replicas: ShardInfo[], key: string): Promise<Lattice | undefined> {
    const answers = await Promise.all(
      replicas.map((r) =>
        request(this.transport, r.subject, KVS_PEEK, { keys: [key] }, deadlineIn(PEEK_TIMEOUT_MS)).then(
          (body) => parseEntries(body as Record<string, unknown>),
          () => [],
        ),
      ),
    );
    const entries = answers.flat();
    if (entries.length > 0) await this.merge(entries);
    return this.store.get(key);
  }

  /** The entries this shard holds for the keys asked, owned or not. */
  private peek(msg: Envelope): { entries: Entry[] } {
    const entries: Entry[] = [];
    for (const key of arr(msg, 'keys')) {
      const value = typeof key === 'string' ? this.store.get(key) : undefined;
      if (value) entries.push([key as string, value]);
    }
    return { entries };
  }

  private wrongShard(key: string): WrongShard {
    return new WrongShard(`shard ${this.id} does not hold key "${key}"`, { data: { members: this.ring.members } });
  }

  /** Serves one page of a joiner's pull; the first page registers the joiner. */
  private join(msg: Envelope, _ctx: MessageContext): { entries: Entry[]; next?: number } {
    const joiner: ShardInfo = { id: str(msg, 'id'), subject: str(msg, 'subject'), state: 'joining' };
    const cursor = num(msg, 'cursor');
    if (cursor === 0) {
      // From here on, writes of the joiner's keys are forwarded to it (the
      // ring version changes, so the batch path gossips them).
      this.joiners.set(joiner.id, joiner);
      this.refreshRing();
      this.pulls.set(joiner.id, [...this.store.keys()].filter((k) => this.ring.targetReplicas(k).some((s) => s.id === joiner.id)));
    }
    const keys = this.pulls.get(joiner.id) ?? [];
    const page = keys.slice(cursor, cursor + JOIN_PAGE);
    const entries: Entry[] = [];
    for (const key of page) {
      const value = this.store.get(key);
      if (value) entries.push([key, value]);
    }
    const next = cursor + page.length;
    if (next >= keys.length) {
      this.pulls.delete(joiner.id);
      return { entries };
    }
    return { entries, next };
  }

  private async pullFrom(shard: ShardInfo): Promise<void> {
    let cursor: number | undefined = 0;
    while (cursor !== undefined) {
      const body = (await request(this.transport, shard.subject, KVS_JOIN, { id: this.id, subject: this.subject, cursor }, deadlineIn(30_000))) as Record<string, unknown>;
      await this.merge(parseEntries(body));
      cursor = typeof body['next'] === 'number' ? body['next'] : undefined;
    }
  }
}
