// Anna's selective replication: a key read or written often enough gets a
// replica on every shard, so its load spreads; once it has cooled for a
// while it goes back to the default. Two thresholds and a cool-down keep a
// key near the line from flapping.
//
// Input is what shards say in heartbeats: their most accessed keys with the
// count since their previous heartbeat. Output is the table of per-key
// replication factors that shards and clients route by.

import type { Member } from '../lib/membership.js';

import type { RouterConfig } from '../lib/config.js';

export type ReplicationPolicyOptions = Pick<RouterConfig, 'hotKeyOpsPerSec' | 'coolKeyOpsPerSec' | 'hotKeyCooldownMs'>;

export class ReplicationPolicy {
  /** Hot keys and when they were last seen above the cool threshold. */
  private readonly hot = new Map<string, number>();
  private last = '[]';

  constructor(private readonly opts: ReplicationPolicyOptions) {}

  /**
   * Updates the table from the shards' latest heartbeats and the pinned
   * factors; returns the overrides (key → replication factor) and whether
   * they changed.
   */
  evaluate(shards: Member[], heartbeatMs: number, pinned: ReadonlyMap<string, number>, now = Date.now()): { overrides: [string, number][]; changed: boolean } {
    const rates = new Map<string, number>();
    for (const shard of shards) {
      const hot = shard['hot'];
      if (!Array.isArray(hot)) continue;
      for (const entry of hot) {
        if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'number') continue;
        rates.set(entry[0], (rates.get(entry[0]) ?? 0) + (entry[1] * 1000) / heartbeatMs);
      }
    }
    for (const [key, rate] of rates) {
      if (rate >= this.opts.hotKeyOpsPerSec || (rate >= this.opts.coolKeyOpsPerSec && this.hot.has(key))) this.hot.set(key, now);
    }
    for (const [key, warmAt] of this.hot) if (now - warmAt > this.opts.hotKeyCooldownMs) this.hot.delete(key);
    // Pinned factors (set by users) win over the policy.
    const table = new Map<string, number>([...this.hot.keys()].map((key) => [key, shards.length]));
    for (const [key, replicas] of pinned) table.set(key, replicas);
    const overrides = [...table].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const text = JSON.stringify(overrides);
    const changed = text !== this.last;
    this.last = text;
    return { overrides, changed };
  }
}
