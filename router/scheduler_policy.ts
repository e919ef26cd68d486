// Where a call goes (Cloudburst's scheduler):
//   1. locality: among executors not overloaded, the one caching most of the
//      keys the call references;
//   2. load: ties go to the least work per thread: the larger of what its
//      last heartbeat said and the calls this router has out at it;
//   3. spread: a small share of calls goes to a random executor, so routers
//      keep learning about all of them and no executor stays cold.
// `random` placement (for comparison in benchmarks) skips all three.

import type { Member } from '../lib/membership.js';

export type Placement = 'locality' | 'random';

/** Work per thread above which an executor is passed over while others have room. */
const OVERLOADED = 2;
/** Share of calls placed at random. */
const EXPLORE = 0.05;

export class SchedulerPolicy {
  /** Calls this router has sent to each executor and not yet heard finished. */
  private readonly outstanding = new Map<string, number>();
  /** Each executor's cached keys, as of the heartbeat they came with. */
  private readonly cached = new Map<string, { at: number; keys: Set<string> }>();

  constructor(private readonly placement: Placement = 'locality') {}

  /** A call went to `executor` (counted until `finished`). */
  sent(executor: string): void {
    this.outstanding.set(executor, (this.outstanding.get(executor) ?? 0) + 1);
  }

  finished(executor: string): void {
    const left = (this.outstanding.get(executor) ?? 0) - 1;
    if (left > 0) this.outstanding.set(executor, left);
    else this.outstanding.delete(executor);
  }

  pick(executors: Member[], keys: string[] = []): Member | undefined {
    if (executors.length === 0) return undefined;
    return this.placement === 'random' || Math.random() < EXPLORE ? executors[Math.floor(Math.random() * executors.length)]! : this.best(executors, keys);
  }

  private best(executors: Member[], keys: string[]): Member {
    const roomy = executors.filter((e) => this.load(e) < OVERLOADED);
    const candidates = roomy.length > 0 ? roomy : executors;
    let best = candidates[0]!;
    let bestScore = -Infinity;
    let ties = 0;
    for (const e of candidates) {
      // Locality first, load second: a cached key is worth more than any load difference below OVERLOADED.
      const score = this.localHits(e, keys) * OVERLOADED * 2 - this.load(e);
      if (score > bestScore) {
        best = e;
        bestScore = score;
        ties = 1;
      } else if (score === bestScore && Math.random() * ++ties < 1) {
        best = e;
      }
    }
    return best;
  }

  private localHits(e: Member, keys: string[]): number {
    if (keys.length === 0 || !Array.isArray(e['cached'])) return 0;
    let known = this.cached.get(e.id);
    if (!known || known.at !== e.at) this.cached.set(e.id, (known = { at: e.at, keys: new Set(e['cached'] as string[]) }));
    return keys.filter((k) => known.keys.has(k)).length;
  }

  private load(e: Member): number {
    const threads = typeof e['threads'] === 'number' && e['threads'] > 0 ? e['threads'] : 1;
    const busy = (typeof e['running'] === 'number' ? e['running'] : 0) + (typeof e['queued'] === 'number' ? e['queued'] : 0);
    return Math.max(busy, this.outstanding.get(e.id) ?? 0) / threads;
  }
}
