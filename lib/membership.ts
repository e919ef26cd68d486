// A view of the cluster built only from heartbeats on `<prefix>.members`: a
// node is a member while it keeps announcing itself, and leaves on its
// `leave` notice or after `timeoutMs` of silence. Routers, KVS shards and KVS
// clients each keep one; nobody asks a coordinator. A node restarted under the
// same id (as `cloudburst up` restarts a crashed one) announces a new
// incarnation, often before the old one would have timed out: that is a
// change too, so whoever tracks work sent to the old one sees it gone.

import type { Heartbeat, NodeKind } from './actor/actor.js';
import type { Subscription, Transport } from './actor/transport.js';
import { decodeMessage, encodeMessage, str } from './codec/index.js';
import type { Subjects } from './subjects.js';

export interface Member extends Heartbeat {
  /** Local wall-clock time the last heartbeat arrived (for status; timeouts use the monotonic clock). */
  seenAt: number;
}

/** How long a member dropped for silence is remembered as such: longer than any hand-off window that asks. */
const SILENT_MS = 60_000;

export class Membership {
  private readonly members = new Map<string, Member>();
  /**
   * When each member was last heard, on the monotonic clock: a wall clock
   * stepped forward (NTP, an operator, the harness's skew) would otherwise
   * make every member look silent at once, and one stepped back keep a dead
   * one alive.
   */
  private readonly heardAt = new Map<string, number>();
  private readonly listeners = new Set<() => void>();
  private readonly heardListeners = new Set<(m: Member) => void>();
  /**
   * Members dropped for silence (not for a `leave`), with when (monotonic),
   * until heard again or for SILENT_MS: such a node may still be running
   * where we cannot hear it (paused, or cut off by a partition), with what
   * it took in since.
   */
  private readonly silent = new Map<string, { at: number; member: Member }>();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(readonly timeoutMs: number) {}

  heard(hb: Heartbeat): void {
    const had = this.members.get(hb.id);
    const member = { ...hb, seenAt: Date.now() };
    this.heardAt.set(hb.id, performance.now());
    this.silent.delete(hb.id);
    // A member learnt second-hand has no incarnation: the first heartbeat names it, nothing restarted.
    if (had && member.incarnation === undefined && had.incarnation !== undefined) member.incarnation = had.incarnation;
    this.members.set(hb.id, member);
    for (const listener of [...this.heardListeners]) listener(member);
    if (!had || had['state'] !== hb['state'] || had.subject !== hb.subject || restarted(had, member)) this.changed();
  }

  /** Called on every heartbeat (load reports), not only on changes. */
  onHeard(listener: (m: Member) => void): () => void {
    this.heardListeners.add(listener);
    return () => this.heardListeners.delete(listener);
  }

  /**
   * A `leave` notice. One naming an incarnation other than the member's now
   * comes from a process already replaced (it arrived late): ignored.
   */
  left(id: string, incarnation?: string): void {
    const member = this.members.get(id);
    if (!member) return void this.silent.delete(id);
    if (incarnation !== undefined && member.incarnation !== undefined && incarnation !== member.incarnation) return;
    this.members.delete(id);
    this.heardAt.delete(id);
    this.silent.delete(id);
    this.changed();
  }

  /** Whether `id` was dropped for silence in the last minute and not heard since (a `leave` or a heartbeat clears it). */
  wentSilent(id: string): boolean {
    this.sweep();
    return this.silent.has(id);
  }

  /** Members dropped for silence in the last minute and not heard since, as last heard (of one kind or all). */
  silentMembers(kind?: NodeKind): Member[] {
    this.sweep();
    const out: Member[] = [];
    for (const { member } of this.silent.values()) if (kind === undefined || member.kind === kind) out.push(member);
    return out;
  }

  /**
   * Counts a member not heard yet as silent (for SILENT_MS, or until heard):
   * a node restarting learns who it knew before its restart this way (a KVS
   * shard, from its data directory), so a partition at that moment does not
   * make it take itself for the whole cluster.
   */
  remember(member: Member): void {
    if (this.members.has(member.id)) return;
    this.silent.set(member.id, { at: performance.now(), member });
  }

  /** Live members, of one kind or all. */
  live(kind?: NodeKind): Member[] {
    this.sweep();
    const out: Member[] = [];
    for (const m of this.members.values()) if (kind === undefined || m.kind === kind) out.push(m);
    return out;
  }

  /** Called whenever a member joins, leaves, times out or changes state. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves true once `ready()` holds (checked at each change), false after `ms`. */
  waitFor(ready: () => boolean, ms: number): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        off();
        resolve(ok);
      };
      const timer = setTimeout(() => done(ready()), Math.max(0, ms));
      const off = this.onChange(() => ready() && done(true));
    });
  }

  /**
   * Follows heartbeats on the transport and asks every node to announce
   * itself now; silent members are swept every `timeoutMs / 3`.
   */
  follow(transport: Transport, subjects: Subjects, onBadMessage: (err: unknown) => void = () => {}): Subscription {
    const sub = transport.subscribe(subjects.members, (m) => {
      try {
        const msg = decodeMessage(m.data);
        if (msg.t === 'heartbeat') {
          str(msg, 'id');
          str(msg, 'kind');
          str(msg, 'subject');
          const { v: _v, t: _t, ...hb } = msg;
          this.heard(hb as unknown as Heartbeat);
        } else if (msg.t === 'leave') {
          this.left(str(msg, 'id'), typeof msg['incarnation'] === 'string' ? msg['incarnation'] : undefined);
        }
      } catch (err) {
        onBadMessage(err);
      }
    });
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(10, this.timeoutMs / 3));
    this.sweepTimer.unref();
    transport.publish(subjects.membersPing, encodeMessage('ping', {}));
    return {
      unsubscribe: () => {
        clearInterval(this.sweepTimer);
        sub.unsubscribe();
      },
    };
  }

  private sweep(): void {
    const now = performance.now();
    for (const [id, { at }] of this.silent) if (now - at > SILENT_MS) this.silent.delete(id);
    let dropped = false;
    for (const [id, member] of this.members) {
      if (now - (this.heardAt.get(id) ?? 0) > this.timeoutMs) {
        this.members.delete(id);
        this.heardAt.delete(id);
        this.silent.set(id, { at: now, member });
        dropped = true;
      }
    }
    if (dropped) this.changed();
  }

  private changed(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/** Whether `now` is another start of the node `before` was (both name their incarnation, and differ). */
export function restarted(before: Heartbeat, now: Heartbeat): boolean {
  return before.incarnation !== undefined && now.incarnation !== undefined && before.incarnation !== now.incarnation;
}
