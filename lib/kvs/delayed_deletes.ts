// Keys to delete once no one can need them any more (effect logs after their
// retention, old transaction versions), checked periodically. Kept in the
// process that made them: if it dies first, those keys stay (noted in
// docs/consistency.md).

import type { KvsClient } from '../client/kvs_client.js';

export class DelayedDeletes {
  private readonly due = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly kvs: KvsClient,
    checkEveryMs: number,
  ) {
    this.timer = setInterval(() => this.collect(), checkEveryMs);
    this.timer.unref();
  }

  /** Deletes `key` at time `when` (ms), or later if it is already due later. */
  at(key: string, when: number): void {
    if ((this.due.get(key) ?? 0) < when) this.due.set(key, when);
  }

  close(): void {
    clearInterval(this.timer);
  }

  private collect(): void {
    const now = Date.now();
    for (const [key, when] of this.due) {
      if (when > now) continue;
      this.due.delete(key);
      this.kvs.delete(key).catch(() => this.at(key, when));
    }
  }
}
