// Work a router has sent out and not yet heard finished: single calls (one
// executor) and DAG calls (one executor per stage). Executors batch `done`
// notices back; work one of whose executors leaves the cluster (stops
// heartbeating) before its notice arrives is handed back once, to be sent
// again elsewhere under the same id. Entries go at their deadline.

export interface Tracked {
  id: string;
  /** Where the work runs; any of them leaving orphans it. */
  executors: string[];
  deadline: number;
  retried: boolean;
}

export class InFlight<T extends Tracked> {
  private readonly items = new Map<string, { item: T; timer: NodeJS.Timeout }>();

  /** `expired` hears of work dropped at its deadline without a done notice. */
  constructor(private readonly expired: (item: T) => void = () => {}) {}

  track(item: T): void {
    this.done(item.id);
    const timer = setTimeout(() => this.expired(this.done(item.id)!), Math.max(0, item.deadline - Date.now()));
    timer.unref();
    this.items.set(item.id, { item, timer });
  }

  /** Work tracked now. */
  get size(): number {
    return this.items.size;
  }

  /** The work finished (or is given up here); returns it, if it was tracked. */
  done(id: string): T | undefined {
    const entry = this.items.get(id);
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    this.items.delete(id);
    return entry.item;
  }

  /** Work out at executors not in `live`; it is forgotten here. */
  orphaned(live: Set<string>): T[] {
    const out: T[] = [];
    for (const { item } of [...this.items.values()]) {
      if (item.executors.every((e) => live.has(e))) continue;
      this.done(item.id);
      out.push(item);
    }
    return out;
  }
}
