// Drops the keys a shard holds but no longer replicates (a join moved them,
// a hot or pinned key's factor went down, a leave or death shifted the ring
// back). A key goes only when
//   - the ring has not changed for a grace period (other processes' views
//     have caught up, reads routed by the old ring have been answered), and
//   - every shard that replicates it now has acknowledged this shard's record
//     of it (sent again here, so a new owner that never received the hand-off
//     gets it, and the key stays until it has);
// a key that is not confirmed is tried again at the next sweep. A ring change
// during a sweep cancels its drops and schedules another.

/** What the sweep needs of its shard. */
export interface SweepHost {
  /** Changes whenever anything that routes keys changes. */
  ringVersion(): number;
  /** Whether the shard may drop keys now (not joining or leaving). */
  settled(): boolean;
  /** Keys held (values or tombstones) that this shard does not replicate in its ring. */
  unowned(): string[];
  /** The keys of `keys` that every replica acknowledged; rejects on nothing. */
  confirm(keys: string[]): Promise<string[]>;
  /** Drops `keys` from memory and disk. */
  drop(keys: string[]): Promise<void>;
  /** Told of a failed sweep (a store error). */
  onError(err: unknown): void;
}

export class UnownedSweep {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;

  constructor(
    private readonly host: SweepHost,
    private readonly graceMs: number,
  ) {}

  /** The ring moved: sweep once it has been still for the grace period. */
  ringChanged(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const version = this.host.ringVersion();
    this.timer = setTimeout(() => void this.sweep(version), this.graceMs);
    this.timer.unref();
  }

  private async sweep(version: number): Promise<void> {
    if (this.running) return this.schedule(); // one at a time; look again later
    if (version !== this.host.ringVersion() || !this.host.settled()) return this.schedule();
    const candidates = this.host.unowned();
    if (candidates.length === 0) return;
    this.running = true;
    try {
      const confirmed = await this.host.confirm(candidates);
      // Decided on a ring that is still the one we confirmed against.
      const still = version === this.host.ringVersion() && this.host.settled() && !this.stopped;
      if (still) await this.host.drop(confirmed);
      if (!still || confirmed.length < candidates.length) this.schedule();
    } catch (err) {
      this.host.onError(err);
      this.schedule();
    } finally {
      this.running = false;
    }
  }
}
