// When a cluster should have more or fewer executors (Cloudburst's
// autoscaling), from what executors say in heartbeats: how many calls each
// is running against its threads, and how many wait in its queue. Grow when
// work waits or threads are nearly all busy; shrink when most threads have
// been idle; never change twice within the cool-down, so a start-up or a
// drain settles before the next decision.

import type { Member } from '../lib/membership.js';

export interface AutoscaleOptions {
  min: number;
  max: number;
  /** Least time between two changes. Default 10 s. */
  cooldownMs: number;
}

export type ScaleDecision = 'grow' | 'shrink' | 'hold';

/** Busy share of all threads above which the cluster grows. */
const GROW_AT = 0.8;
/** Busy share below which it shrinks. */
const SHRINK_AT = 0.25;

export class AutoscalingPolicy {
  private lastChange = 0;

  constructor(private readonly opts: AutoscaleOptions) {}

  decide(executors: Member[], now = Date.now()): ScaleDecision {
    const n = executors.length;
    if (now - this.lastChange < this.opts.cooldownMs) return 'hold';
    const num = (m: Member, field: string): number => (typeof m[field] === 'number' ? (m[field]) : 0);
    const threads = executors.reduce((sum, m) => sum + Math.max(1, num(m, 'threads')), 0);
    const running = executors.reduce((sum, m) => sum + num(m, 'running'), 0);
    const queued = executors.reduce((sum, m) => sum + num(m, 'queued'), 0);
    const busy = threads > 0 ? running / threads : 0;
    let decision: ScaleDecision = 'hold';
    if (n < this.opts.min || (n < this.opts.max && (queued > 0 || busy >= GROW_AT))) decision = 'grow';
    else if (n > this.opts.max || (n > this.opts.min && queued === 0 && busy < SHRINK_AT)) decision = 'shrink';
    if (decision !== 'hold') this.lastChange = now;
    return decision;
  }
}
