// Calls a router has forwarded and not yet heard finished. Executors batch
// `done` notices back; a call whose executor leaves the cluster (stops
// heartbeating) before its notice arrives is sent once more, elsewhere, with
// the same id and the caller's reply subject. Entries go at the deadline.

export interface Tracked {
  id: string;
  executor: string;
  /** The encoded call message, as first sent. */
  call: Uint8Array;
  reply: string;
  deadline: number;
  retried: boolean;
}

export class InFlightCalls {
  private readonly calls = new Map<string, Tracked & { timer: NodeJS.Timeout }>();

  /** `expired` hears of calls dropped at their deadline without a done notice. */
  constructor(private readonly expired: (t: Tracked) => void) {}

  track(t: Tracked): void {
    const timer = setTimeout(() => this.expired(this.done(t.id)!), Math.max(0, t.deadline - Date.now()));
    timer.unref();
    this.calls.set(t.id, { ...t, timer });
  }

  /** The call finished (or is given up here); returns it, if it was tracked. */
  done(id: string): Tracked | undefined {
    const t = this.calls.get(id);
    if (!t) return undefined;
    clearTimeout(t.timer);
    this.calls.delete(id);
    return t;
  }

  /** Calls still out at executors not in `live`; they are forgotten here. */
  orphaned(live: Set<string>): Tracked[] {
    const out: Tracked[] = [];
    for (const t of this.calls.values()) {
      if (live.has(t.executor)) continue;
      this.done(t.id);
      out.push(t);
    }
    return out;
  }
}
