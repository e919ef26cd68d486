// Work a router has sent out and not yet heard finished: single calls (one
// executor) and DAG calls (one executor per stage). Executors batch `done`
// notices back; work one of whose executors dies before its notice arrives
// is handed back once, to be sent again elsewhere under the same id. An
// executor has died when it leaves the cluster (stops heartbeating), and also
// when it is heard again under a new incarnation: a restart under the same id
// (as `cloudburst up` restarts a crashed node) can be quicker than the member
// timeout, and the new process knows nothing of the old one's calls. Entries
// go at their deadline.

import { timerMs } from '../lib/deadline.js';

/** An executor process work was sent to: its id, and which start of it. */
export interface Placement {
  id: string;
  /** Its incarnation when the work was sent (undefined: it named none). */
  incarnation: string | undefined;
}

export interface Tracked {
  id: string;
  /** Where the work runs; any of them dying orphans it. */
  executors: Placement[];
  deadline: number;
  retried: boolean;
}

export class InFlight<T extends Tracked> {
  private readonly items = new Map<string, { item: T; timer: NodeJS.Timeout }>();

  /** `expired` hears of work dropped at its deadline without a done notice. */
  constructor(private readonly expired: (item: T) => void = () => {}) {}

  track(item: T): void {
    this.done(item.id);
    const timer = setTimeout(() => this.expired(this.done(item.id)!), timerMs(item.deadline));
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

  /**
   * Work out at executors that are gone: not in `live` (id → incarnation), or
   * there under another incarnation than the one the work was sent to. It is
   * forgotten here.
   */
  orphaned(live: ReadonlyMap<string, string | undefined>): T[] {
    const out: T[] = [];
    for (const { item } of [...this.items.values()]) {
      if (item.executors.every((e) => live.has(e.id) && (e.incarnation === undefined || live.get(e.id) === e.incarnation))) continue;
      this.done(item.id);
      out.push(item);
    }
    return out;
  }
}
