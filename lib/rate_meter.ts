// Events per second between two readings: the load figures nodes put in
// their heartbeats (a shard's operations, a router's calls).

export class RateMeter {
  private count = 0;
  private since = performance.now();

  add(n = 1): void {
    this.count += n;
  }

  /** Events per second since the last reading (or since start); starts a new period. */
  take(): number {
    const now = performance.now();
    const rate = (this.count * 1000) / Math.max(1, now - this.since);
    this.count = 0;
    this.since = now;
    return rate;
  }
}
