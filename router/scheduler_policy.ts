// Where a call goes. Skeleton policy: the executor with the least work per
// thread by its last heartbeat plus what this router sent it since, ties
// broken at random so several routers do not pile onto one executor.
// Locality (cached keys) joins this in the functions issue.

import type { Member } from '../lib/membership.js';

export class SchedulerPolicy {
  /** Calls sent to each executor since its last heartbeat. */
  private readonly sentSince = new Map<string, number>();

  noteHeartbeat(id: string): void {
    this.sentSince.delete(id);
  }

  pick(executors: Member[]): Member | undefined {
    let best: Member | undefined;
    let bestLoad = Infinity;
    let ties = 0;
    for (const e of executors) {
      const load = this.load(e);
      if (load < bestLoad) {
        best = e;
        bestLoad = load;
        ties = 1;
      } else if (load === bestLoad && Math.random() * ++ties < 1) {
        best = e;
      }
    }
    if (best) this.sentSince.set(best.id, (this.sentSince.get(best.id) ?? 0) + 1);
    return best;
  }

  private load(e: Member): number {
    const threads = typeof e['threads'] === 'number' && e['threads'] > 0 ? e['threads'] : 1;
    const busy = (typeof e['running'] === 'number' ? e['running'] : 0) + (typeof e['queued'] === 'number' ? e['queued'] : 0);
    return (busy + (this.sentSince.get(e.id) ?? 0)) / threads;
  }
}
