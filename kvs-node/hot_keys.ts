// Per-key access counts since the last heartbeat, so the replication policy
// can find hot keys (Anna's selective replication) without extra messages.

export class HotKeys {
  private counts = new Map<string, number>();

  count(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** The `n` most accessed keys with their counts; starts a new period. */
  take(n: number): [string, number][] {
    const top = [...this.counts].sort((a, b) => b[1] - a[1]).slice(0, n);
    this.counts = new Map();
    return top;
  }
}
