// Distributed session repeatable read (Cloudburst's `rr`): the first read of
// a key in a DAG call pins the version this executor read; every later read
// of that key in the same call gets that version, here or, from another
// executor, by asking this one (`pin.get`). Pins go at the call's deadline.

import { timerMs } from '../../lib/deadline.js';
import { DeadlineExceeded } from '../../lib/errors.js';
import type { Lattice } from '../../lib/lattice/index.js';

import type { Consistency } from '../../lib/dag_protocol.js';
import type { VectorClock } from '../../lib/lattice/index.js';

/** What one running instance knows of its call's session. */
export interface Session {
  id: string;
  consistency: Consistency;
  /** rr: key → subject of the executor that pinned it (this call's pins so far). */
  pins: Map<string, string>;
  /** causal: key → the least version the session may see (what it read, wrote, or depends on). */
  deps: Map<string, VectorClock>;
}

/** Raises the session's floor for `key` to include `clock`. */
export function addDependency(session: Session, key: string, clock: VectorClock): void {
  const have = session.deps.get(key);
  session.deps.set(key, have ? have.merge(clock) : clock);
}

export class PinnedVersions {
  private readonly sessions = new Map<string, { values: Map<string, Lattice | null>; timer: NodeJS.Timeout }>();

  pin(session: string, key: string, value: Lattice | undefined, deadline: number): void {
    let s = this.sessions.get(session);
    if (!s) {
      const timer = setTimeout(() => this.sessions.delete(session), timerMs(deadline));
      timer.unref();
      this.sessions.set(session, (s = { values: new Map(), timer }));
    }
    s.values.set(key, value ?? null);
  }

  /** The pinned version (undefined: the key was absent when pinned). */
  get(session: string, key: string): Lattice | undefined {
    const values = this.sessions.get(session)?.values;
    if (!values?.has(key)) throw new DeadlineExceeded(`no version of "${key}" is pinned for session ${session} (it ended or expired)`);
    return values.get(key) ?? undefined;
  }
}
