// The locks of one try of a serializable call (docs/consistency.md,
// "Serializable"): strict two-phase locking over the KVS's no-wait locks
// (lib/kvs/locks.ts). Every key the call reads or writes is locked before
// the read or the buffered write, once per key per try; all are held until
// the commit is done or the try is given up, then released.
//   - A lock held by another call is not waited for: the try is marked
//     conflicted and the read or write fails; the call's runner gives the
//     try up and runs the function again later (no waiting: no deadlock).
//   - A lease is short (LEASE_MS) and renewed while the try runs, never past
//     the call's deadline: a dead executor's locks lapse within a lease,
//     and no lock outlives its call.
//   - `check()` before a commit sends its index entries (what makes it
//     visible to serializable readers): the try still holds every lock for
//     at least COMMIT_MARGIN_MS more, or it is given up.
//   - `seal()` then, after the commit's intent (which names the locks and
//     the seal token) is filed: each lock's primary seals it only if this
//     try still holds it at the generation it was granted and the lease is
//     not over on that shard's clock, else the try is given up. A sealed
//     lock is held past any lease, until `release()` once the commit is
//     complete, or the collector's release once it has rolled the commit
//     forward or back (`abandon()`: the try failed after its index entries
//     may have gone out). So an executor that stalls past its lease before
//     sealing cannot commit, and one that sealed keeps its locks until its
//     commit is final: no lapse of a lock can lose an update.

import type { KvsClient } from '../../lib/client/kvs_client.js';
import { TransactionConflict } from '../../lib/errors.js';
import type { LockState } from '../../lib/kvs/locks.js';
import { INTENT_TIMING } from './commit_intents.js';

/** How long one grant or renewal holds a lock (capped at the call's deadline). */
export const LEASE_MS = 3_000;
/** Renewals go out this often while a try holds locks. */
const RENEW_EVERY_MS = 1_000;
/** A commit is sent on only with at least this long left on every lease. */
export const COMMIT_MARGIN_MS = 300;
/**
 * How long a sealed lock is held at most if nobody releases it (its
 * committer died and no collector ran): as far back as collectors look for
 * intents. Only a backstop against leaks.
 */
export const SEAL_BACKSTOP_MS = INTENT_TIMING.lookbackMs;
/** Releases are best effort (a lease is the backstop): this long at most. */
const RELEASE_TIMEOUT_MS = 2_000;

export interface LockConflictInfo {
  key: string;
  holder: string | undefined;
}

export class CallLocks {
  /** Grants asked for or held, per key (the promise: concurrent reads of one key ask once). */
  private readonly asked = new Map<string, Promise<LockState>>();
  /** What the grants and renewals said, per held key. */
  private readonly held = new Map<string, LockState>();
  private renewTimer: NodeJS.Timeout | undefined;
  private released = false;
  /** Set by the first lock found held by another call (or lost): the try is over. */
  conflict: LockConflictInfo | undefined;

  constructor(
    private readonly kvs: KvsClient,
    /** The lock owner: this try's transaction id. */
    readonly owner: string,
    private readonly deadline: number,
    /**
     * The generation every attempt of this try must hold `key` at (an
     * exactly-once try logs the first one): another means the hold was
     * interrupted and what the log read may be stale.
     */
    private readonly agreed?: (key: string, generation: number) => Promise<number>,
  ) {}

  /** Locks `key` for this try (once); TransactionConflict if another call holds it. */
  async take(key: string): Promise<void> {
    this.throwIfConflicted();
    let asked = this.asked.get(key);
    if (!asked) {
      asked = this.kvs.lock(key, this.owner, this.leaseEnd(), this.deadline);
      this.asked.set(key, asked);
    }
    const state = await asked;
    if (state.owner !== this.owner) {
      this.conflict ??= { key, holder: state.owner };
      this.throwIfConflicted();
    }
    if (this.agreed && !this.held.has(key) && (await this.agreed(key, state.generation)) !== state.generation) {
      this.conflict ??= { key, holder: 'another call, for a while (this try\'s hold of it lapsed)' };
      this.throwIfConflicted();
    }
    this.hold(key, state);
  }

  /**
   * Throws unless every lock is still held (as the grants said) for
   * COMMIT_MARGIN_MS more: called just before the commit's index entries go.
   */
  check(now = Date.now()): void {
    this.throwIfConflicted();
    for (const [key, s] of this.held) {
      if (s.until - now < COMMIT_MARGIN_MS) {
        this.conflict = { key, holder: undefined };
        throw new TransactionConflict(`the lock of "${key}" is about to lapse (${s.until - now} ms left); nothing was committed`, { data: { key } });
      }
    }
  }

  /** The data keys this try holds locks on (what its intent names). */
  keys(): string[] {
    return [...this.held.keys()];
  }

  /**
   * Seals every held lock with `token` (lib/kvs/locks.ts, `seal`): called
   * after the commit's intent names them and `token`, just before its
   * index entries go. Throws TransactionConflict (the try is given up)
   * unless each lock's primary sealed it: held by this try at the
   * generation it was granted, its lease not over there.
   */
  async seal(token: string): Promise<void> {
    this.throwIfConflicted();
    const until = Date.now() + SEAL_BACKSTOP_MS;
    await Promise.all(
      [...this.held].map(async ([key, s]) => {
        const state = await this.kvs.seal(key, this.owner, s.generation, token, until, this.deadline);
        if (state.owner === this.owner && state.generation === s.generation && state.seal === token) this.held.set(key, state);
        else this.conflict ??= { key, holder: state.owner === this.owner ? "this try's lapsed hold" : state.owner };
      }),
    );
    this.throwIfConflicted();
  }

  /**
   * Stops renewing and leaves the locks as they are: a try that failed once
   * its index entries may have gone out keeps its sealed locks until the
   * collector has rolled its commit forward or back.
   */
  abandon(): void {
    this.released = true;
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  /** Releases every lock this try asked for (best effort; the leases are the backstop) and stops renewing. */
  async release(): Promise<void> {
    this.released = true;
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    const keys = [...this.asked.keys()];
    if (keys.length === 0) return;
    const by = Math.min(Date.now() + RELEASE_TIMEOUT_MS, Math.max(this.deadline, Date.now() + 100));
    await Promise.all(keys.map((key) => this.kvs.unlock(key, this.owner, by).catch(() => undefined)));
  }

  private hold(key: string, state: LockState): void {
    this.held.set(key, state);
    if (this.renewTimer === undefined && !this.released) {
      this.renewTimer = setInterval(() => this.renew(), RENEW_EVERY_MS);
      this.renewTimer.unref();
    }
  }

  /** Pushes every held lease back (not past the deadline); a lock found lost marks the try conflicted. */
  private renew(): void {
    const until = this.leaseEnd();
    for (const key of this.held.keys()) {
      this.kvs.lock(key, this.owner, until, Math.min(this.deadline, Date.now() + RENEW_EVERY_MS)).then(
        (state) => {
          if (this.released) return;
          // Another generation: the hold lapsed in between (and may have been someone else's).
          if (state.owner === this.owner && state.generation === this.held.get(key)?.generation) this.held.set(key, state);
          else this.conflict ??= { key, holder: state.owner };
        },
        // A renewal that failed leaves the lease as it was: check() judges it.
        () => undefined,
      );
    }
  }

  private leaseEnd(): number {
    return Math.min(this.deadline, Date.now() + LEASE_MS);
  }

  private throwIfConflicted(): void {
    const c = this.conflict;
    if (c) throw new TransactionConflict(`"${c.key}" is locked by ${c.holder ?? 'another call'}: this try of the serializable call is given up`, { data: { key: c.key } });
  }
}
