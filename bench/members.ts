// What the router knows of the cluster, for benches that must not measure
// before the nodes they started (or the figures they read from heartbeats)
// are there.

import type { NodeKind } from '../lib/actor/actor.js';
import type { Cloudburst } from '../lib/client/cloudburst.js';
import type { Member } from '../lib/membership.js';

/**
 * The members of `kind` as the router sees them, once `count` of them have
 * sent a heartbeat at or after `since` (Date.now() time: the router is on this
 * machine), so their load and cache figures are no older than that.
 */
export async function membersHeard(client: Cloudburst, kind: NodeKind, count: number, since: number, timeoutMs = 10_000): Promise<Member[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const status = (await client.status()) as { members?: Member[] };
    const fresh = (status.members ?? []).filter((m) => m.kind === kind && m.seenAt >= since);
    if (fresh.length >= count) return fresh;
    if (Date.now() > until) throw new Error(`${fresh.length} of ${count} ${kind} nodes heard from within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
