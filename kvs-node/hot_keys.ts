// Per-key access counts since the last heartbeat, so the replication policy
// can find hot keys (Anna's selective replication) without extra messages.
// One operation in SAMPLE is counted, as SAMPLE: a hot key is hot by
// thousands of operations a second, and a map update per operation was a
// measurable share of a shard's time.

const SAMPLE = 8;

export class HotKeys {
  private counts = new Map<string, number>();
  private seen = 0;

  count(key: string): void {
    if (++this.seen % SAMPLE !== 0) return;
    this.counts.set(key, (this.counts.get(key) ?? 0) + SAMPLE);
  }

  /** The `n` most accessed keys with their counts; starts a new period. */
  take(n: number): [string, number][] {
    const top = [...this.counts].sort((a, b) => b[1] - a[1]).slice(0, n);
    this.counts = new Map();
    return top;
  }
}
