// Whether a key's primary may answer a decide with the shards it can reach.
// Every replica of the key in the primary's own view must take the decision
// (see decider.ts), but a view shrinks when shards go silent: a shard cut
// off by a partition, or restarted while it cannot hear its peers, sees only
// itself, takes every key as its own and would decide alone, while the
// shards on the other side decide the same fields their own way (the
// likeliest source of the exactly-once increments the fault harness saw
// applied twice). So the primary also needs one of:
//   - it hears more than half of the shards it knows of that have served
//     (a shard catching up after a pause or a partition included): those it
//     hears, and those that went silent (dropped without a `leave`) in the
//     last minute or that it knew before it restarted (its data directory
//     remembers them). Two sides of a partition cannot both hear a majority
//     of the same shards;
//   - or the shards taking the decision include more than half of the key's
//     replicas on the ring of the shards it knows of: a majority of a set
//     every side computes alike.
// Joiners do not count until they have served: every decision they took was
// also taken by the serving replicas.
// Limits: a shard that restarts without a data directory knows only whom it
// hears; views that disagree on who is known (a shard forgotten after a
// minute of silence on one side only) do not intersect for sure.

import { RingView, type ShardInfo } from '../lib/kvs/ring_view.js';

export interface QuorumView {
  self: ShardInfo;
  /** KVS shards that have served (a joiner not yet) that this shard hears now, in whatever state (itself excluded). */
  heard: ShardInfo[];
  /** Shards that have served that it knows of but does not hear (went silent, or remembered from before a restart). */
  silent: ShardInfo[];
  /** The hot-key policy's per-key replication factors. */
  overrides: [string, number][];
}

/**
 * The shards `view` hears (itself included) and the shards it knows of,
 * heard or not. A shard catching up (`joining` again after a pause or a
 * partition) still counts: leaving it out would cost the others their
 * majority while it catches up, and send them catching up in turn.
 */
function servingShards(view: QuorumView): { heard: Set<string>; known: Map<string, ShardInfo> } {
  const heard = new Set([view.self, ...view.heard].map((s) => s.id));
  const known = new Map<string, ShardInfo>();
  for (const s of [view.self, ...view.heard, ...view.silent]) if (!known.has(s.id)) known.set(s.id, { ...s, state: 'active' });
  return { heard, known };
}

/** Whether the shard hears more than half of the serving shards it knows of (itself included). */
export function hearsMajority(view: QuorumView): boolean {
  const { heard, known } = servingShards(view);
  return 2 * heard.size > known.size;
}

export class DecideQuorum {
  private known: { signature: string; ring: RingView } | undefined;

  /** Why the primary may not answer a decide of `key` taken by `holders` (itself included), or undefined when it may. */
  refusal(key: string, holders: string[], view: QuorumView): string | undefined {
    const { heard, known } = servingShards(view);
    if (2 * heard.size > known.size) return undefined;
    const replicas = this.ringOf(known, view.overrides).readReplicas(key).map((s) => s.id);
    const taking = replicas.filter((id) => holders.includes(id));
    if (2 * taking.length > replicas.length) return undefined;
    const silent = [...known.keys()].filter((id) => !heard.has(id));
    return (
      `shard ${view.self.id} hears ${heard.size} of the ${known.size} serving shards it knows (silent: ${silent.join(', ')}) ` +
      `and ${taking.length} of the ${replicas.length} replicas of "${key}" among them: it does not decide without a majority of either`
    );
  }

  /** The ring of every known serving shard, rebuilt only when they change. */
  private ringOf(known: Map<string, ShardInfo>, overrides: [string, number][]): RingView {
    const signature = JSON.stringify([
      [...known.values()].map((s) => [s.id, s.replication ?? 0]).sort(),
      overrides,
    ]);
    if (this.known?.signature !== signature) {
      const ring = new RingView();
      ring.update(known.values());
      ring.setOverrides(overrides);
      this.known = { signature, ring };
    }
    return this.known.ring;
  }
}
