// Who holds a key, as seen from one process. Built from the KVS shards'
// heartbeats, each with a state:
//   joining: pulling its ranges; takes writes (so it misses none) but no reads
//   active:  serves reads and writes
//   leaving: handing its data off; still serves reads, takes no new ranges
// Reads go to the replicas on the ring of serving shards (active, leaving);
// writes go to the union of those and the replicas on the ring the cluster
// is moving to (active, joining), so a hand-off never misses a write.

import type { Member } from '../membership.js';
import { HashRing, hash32 } from './hash_ring.js';

export type ShardState = 'joining' | 'active' | 'leaving';

export interface ShardInfo {
  id: string;
  subject: string;
  state: ShardState;
  /** The replication factor the shard is configured with. */
  replication?: number;
}

export interface RingViewOptions {
  /**
   * Replicas per key when there are at least that many shards. Default: what
   * the shards say in their heartbeats (the largest), else 2.
   */
  replication?: number;
  vnodes?: number;
}

export const DEFAULT_REPLICATION = 2;

export class RingView {
  private shards = new Map<string, ShardInfo>();
  private serving = new HashRing([]);
  private target = new HashRing([]);
  private overrides = new Map<string, number>();
  private defaultReplication = DEFAULT_REPLICATION;
  /** Same members in the same states with the same overrides ⇔ same version, in every process. */
  version = 0;

  constructor(private readonly opts: RingViewOptions = {}) {}

  /** Replaces the member list; true when anything that routes keys changed. */
  update(shards: Iterable<ShardInfo>): boolean {
    const next = new Map<string, ShardInfo>();
    for (const s of shards) next.set(s.id, { ...s });
    this.shards = next;
    return this.rehash();
  }

  /** Per-key replication factors set by the hot-key policy; true when they changed. */
  setOverrides(overrides: Iterable<[string, number]>): boolean {
    this.overrides = new Map(overrides);
    return this.rehash();
  }

  /** A copy that later updates of this view do not change. */
  clone(): RingView {
    const copy = new RingView(this.opts);
    copy.overrides = this.overrides;
    copy.update(this.shards.values());
    return copy;
  }

  private rehash(): boolean {
    const members = [...this.shards.values()];
    const version = hash32(
      members
        .map((s) => `${s.id}:${s.state}:${s.replication ?? ''}`)
        .sort()
        .join(',') + `|${[...this.overrides].sort().join(',')}`,
    );
    if (version === this.version) return false;
    this.version = version;
    const reported = members.map((s) => s.replication ?? 0);
    this.defaultReplication = this.opts.replication ?? (Math.max(0, ...reported) || DEFAULT_REPLICATION);
    this.serving = new HashRing(members.filter((s) => s.state !== 'joining').map((s) => s.id), this.opts.vnodes);
    this.target = new HashRing(members.filter((s) => s.state !== 'leaving').map((s) => s.id), this.opts.vnodes);
    return true;
  }

  get members(): ShardInfo[] {
    return [...this.shards.values()];
  }

  shard(id: string): ShardInfo | undefined {
    return this.shards.get(id);
  }

  /** True when some shard serves reads. */
  get ready(): boolean {
    return this.serving.size > 0;
  }

  replication(key: string, ring: HashRing): number {
    const wanted = this.overrides.get(key) ?? this.defaultReplication;
    return Math.max(1, Math.min(wanted, ring.size));
  }

  readReplicas(key: string): ShardInfo[] {
    return this.infos(this.serving.replicas(key, this.replication(key, this.serving)));
  }

  writeReplicas(key: string): ShardInfo[] {
    const ids = new Set(this.serving.replicas(key, this.replication(key, this.serving)));
    for (const id of this.target.replicas(key, this.replication(key, this.target))) ids.add(id);
    return this.infos([...ids]);
  }

  /** The replicas `key` will have once joins and leaves in progress complete. */
  targetReplicas(key: string): ShardInfo[] {
    return this.infos(this.target.replicas(key, this.replication(key, this.target)));
  }

  private infos(ids: string[]): ShardInfo[] {
    return ids.map((id) => this.shards.get(id)!);
  }
}

/** A shard as its heartbeat describes it. */
export function shardInfo(m: Member): ShardInfo {
  const state = m['state'];
  const replication = m['replication'];
  return {
    id: m.id,
    subject: m.subject,
    state: state === 'joining' || state === 'leaving' ? state : 'active',
    ...(typeof replication === 'number' && replication >= 1 ? { replication } : {}),
  };
}
