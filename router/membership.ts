// The router's view of the cluster, built only from heartbeats: a node is a
// member while it keeps announcing itself and leaves on its `leave` notice or
// after `timeoutMs` of silence.

import type { Heartbeat, NodeKind } from '../lib/actor/actor.js';

export interface Member extends Heartbeat {
  /** Local time the last heartbeat arrived. */
  seenAt: number;
}

export class Membership {
  private readonly members = new Map<string, Member>();

  constructor(private readonly timeoutMs: number) {}

  heard(hb: Heartbeat): void {
    this.members.set(hb.id, { ...hb, seenAt: Date.now() });
  }

  left(id: string): void {
    this.members.delete(id);
  }

  /** Live members, of one kind or all; the silent ones are dropped on the way. */
  live(kind?: NodeKind): Member[] {
    const now = Date.now();
    const out: Member[] = [];
    for (const [id, m] of this.members) {
      if (now - m.seenAt > this.timeoutMs) this.members.delete(id);
      else if (kind === undefined || m.kind === kind) out.push(m);
    }
    return out;
  }
}
