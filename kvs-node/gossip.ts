// Outbound replication of a shard: keys whose merged value another replica
// may lack are queued per peer and sent in batched rounds (Anna's gossip).
// A round that fails (peer slow, restarting) is queued again as long as the
// peer still should hold the key, so replicas converge after missed rounds.

export interface GossipSender {
  /** Sends the current values of `keys` to `peer`; rejects when not acknowledged. */
  send(peer: string, keys: string[]): Promise<void>;
  /** Whether `peer` should still receive `key` (the ring may have moved on). */
  stillWanted(peer: string, key: string): boolean;
  /** Told of keys `peer` acknowledged. */
  delivered(peer: string, keys: string[]): void;
  /** Told of each round that has something to send (metrics). */
  roundStarted?(): void;
}

/** Entries per gossip message; values are chunked by the transport if large. */
const BATCH = 512;

export class GossipQueue {
  private queued = new Map<string, Set<string>>();
  private timer: NodeJS.Timeout | undefined;
  private inFlight = new Set<Promise<void>>();

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

  /** Sends everything queued now and waits for the answers. */
  async flush(): Promise<void> {
    await this.round();
    await Promise.allSettled([...this.inFlight]);
  }

  private round(): Promise<unknown> {
    const queued = this.queued;
    this.queued = new Map();
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
      () => this.sender.delivered(peer, keys),
      () => {
        for (const key of keys) if (this.sender.stillWanted(peer, key)) this.add(peer, key);
      },
    );
    this.inFlight.add(sending);
    void sending.finally(() => this.inFlight.delete(sending));
    return sending;
  }
}
