// Outbound replication of a shard: keys whose merged value another replica
// may lack are queued per peer and sent in batched rounds (Anna's gossip).
// A round that fails (peer slow, restarting) is queued again as long as the
// peer still should hold the key, so replicas converge after missed rounds;
// a peer that keeps failing is tried at growing intervals (up to a second),
// not every round.

export interface GossipSender {
  /** Sends the current values of `keys` to `peer`; rejects when not acknowledged. */
  send(peer: string, keys: string[]): Promise<void>;
  /** Whether `peer` should still receive `key` (the ring may have moved on). */
  stillWanted(peer: string, key: string): boolean;
  /** Told of keys `peer` acknowledged. */
  delivered(peer: string, keys: string[]): void;
  /** Told of keys `peer` did not acknowledge (queued again if still wanted). */
  failed?(peer: string, keys: string[]): void;
  /** Told of each round that has something to send (metrics). */
  roundStarted?(): void;
}

/** Entries per gossip message; values are chunked by the transport if large. */
const BATCH = 512;
/** Longest pause before a failing peer is tried again. */
const MAX_BACKOFF_MS = 1000;

export class GossipQueue {
  private queued = new Map<string, Set<string>>();
  private timer: NodeJS.Timeout | undefined;
  private inFlight = new Set<Promise<void>>();
  /** Peers whose last send failed: failures in a row and when to try next. */
  private readonly backoff = new Map<string, { failures: number; until: number }>();

  constructor(
    private readonly sender: GossipSender,
    private readonly periodMs: number,
  ) {}

  add(peer: string, key: string): void {
    let keys = this.queued.get(peer);
    if (!keys) this.queued.set(peer, (keys = new Set()));
    keys.add(key);
  }

  /** Drops what is queued for peers `wanted` refuses (gone from the ring): a dead peer is not retried forever. */
  retainPeers(wanted: (peer: string) => boolean): void {
    for (const peer of this.queued.keys()) if (!wanted(peer)) this.queued.delete(peer);
    for (const peer of this.backoff.keys()) if (!wanted(peer)) this.backoff.delete(peer);
  }

  start(): void {
    this.timer = setInterval(() => void this.round(), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Keys waiting for the next round, summed over peers. */
  get queuedKeys(): number {
    let n = 0;
    for (const keys of this.queued.values()) n += keys.size;
    return n;
  }

  /** Nothing queued and nothing waiting for an answer. */
  get idle(): boolean {
    return this.queued.size === 0 && this.inFlight.size === 0;
  }

  /** Sends everything queued now (peers backing off included) and waits for the answers. */
  async flush(): Promise<void> {
    await this.round(true);
    await Promise.allSettled([...this.inFlight]);
  }

  private round(force = false): Promise<unknown> {
    const now = performance.now();
    const queued = new Map<string, Set<string>>();
    for (const [peer, keys] of this.queued) {
      if (!force && (this.backoff.get(peer)?.until ?? 0) > now) continue;
      queued.set(peer, keys);
      this.queued.delete(peer);
    }
    if (queued.size > 0) this.sender.roundStarted?.();
    const sends: Promise<void>[] = [];
    for (const [peer, keys] of queued) {
      const all = [...keys];
      for (let i = 0; i < all.length; i += BATCH) sends.push(this.sendBatch(peer, all.slice(i, i + BATCH)));
    }
    return Promise.allSettled(sends);
  }

  private sendBatch(peer: string, keys: string[]): Promise<void> {
    const sending = this.sender.send(peer, keys).then(
      () => {
        this.backoff.delete(peer);
        this.sender.delivered(peer, keys);
      },
      () => {
        const failures = (this.backoff.get(peer)?.failures ?? 0) + 1;
        this.backoff.set(peer, { failures, until: performance.now() + Math.min(MAX_BACKOFF_MS, this.periodMs * 2 ** failures) });
        this.sender.failed?.(peer, keys);
        for (const key of keys) if (this.sender.stillWanted(peer, key)) this.add(peer, key);
      },
    );
    this.inFlight.add(sending);
    void sending.finally(() => this.inFlight.delete(sending));
    return sending;
  }
}
