// Exactly-once effects for a retried call (after Beldi): every read and
// write a function makes gets a step number (in program order, so a retry of
// deterministic code numbers them the same), and each step's outcome is
// logged in the KVS under the call's request id before it takes effect.
// A retry replays the log: a logged read returns the logged value, a logged
// write re-applies the logged lattice (a merge, so applying it again changes
// nothing), and a logged result is returned without running the function.
// Two attempts of one call may run at once (a paused executor that comes
// back after the router sent its call elsewhere; a client retrying under the
// same request id). So no attempt acts on an outcome it only wrote: each
// step's outcome is decided by the KVS's `decide` (first writer wins, decided
// by the log key's primary replica alone, answered once every replica holds
// it), and every attempt acts on the decided outcome, which is the same for
// all. An entry an attempt finds in the log when it opens it is proposed
// again rather than trusted (it may be a candidate the decider has not
// answered yet), so it too is what the decider answers.

import type { KvsClient } from '../../lib/client/kvs_client.js';
import { InternalError } from '../../lib/errors.js';
import { MapLattice, PriorityLattice, type Lattice } from '../../lib/lattice/index.js';
import { RESERVED_PREFIX } from '../../lib/reserved_keys.js';

/** How long a finished call's log is kept for retries to find. */
export const LOG_RETENTION_MS = 10 * 60_000;

export const logKey = (requestId: string): string => `${RESERVED_PREFIX}log/${requestId}`;

/** A step's outcome: CBOR bytes (a lattice, or a result), or null for "absent". */
type Logged = Uint8Array | null;

/**
 * A step's entry in the log. The priority is fixed: the decider, not a clock,
 * picks the outcome; the merge (equal priorities: the larger value) only
 * makes replicas that held different candidates during a ring change
 * converge on one before the decider answers.
 */
const entry = (outcome: Logged): PriorityLattice<Logged> => new PriorityLattice(0, outcome);

export class EffectLog {
  /** Outcomes the decider answered this attempt. */
  private readonly decided = new Map<string, Logged>();

  private constructor(
    private readonly kvs: KvsClient,
    /** The call's id, the same on every attempt. */
    readonly requestId: string,
    private readonly key: string,
    /** What the log held when this attempt opened it: proposals, not yet outcomes. */
    private readonly found: Map<string, Logged>,
  ) {}

  static async open(kvs: KvsClient, requestId: string, deadline: number): Promise<EffectLog> {
    const key = logKey(requestId);
    const log = new EffectLog(kvs, requestId, key, new Map());
    log.absorb(await kvs.get(key, { all: true, deadline }));
    return log;
  }

  /** The decided outcome of `step` if some attempt logged one, else undefined (nothing is decided then). */
  async logged(step: string, deadline: number): Promise<Logged | undefined> {
    if (this.decided.has(step)) return this.decided.get(step)!;
    if (!this.found.has(step)) return undefined;
    return this.decide(step, this.found.get(step)!, deadline);
  }

  /**
   * The outcome of `step`: the logged one if there is one, else `produce()`'s
   * proposed to the decider. When attempts race, every attempt gets the
   * first one the decider took.
   */
  async once(step: string, deadline: number, produce: () => Promise<Logged>): Promise<Logged> {
    const logged = await this.logged(step, deadline);
    if (logged !== undefined) return logged;
    return this.decide(step, await produce(), deadline);
  }

  private async decide(step: string, proposal: Logged, deadline: number): Promise<Logged> {
    const won = await this.kvs.decide(this.key, step, entry(proposal), deadline);
    if (!(won instanceof PriorityLattice)) throw new InternalError(`the effect log ${this.key} holds a ${won.kind} lattice for step ${step}`);
    const outcome = won.value as Logged;
    this.decided.set(step, outcome);
    return outcome;
  }

  private absorb(stored: Lattice | undefined): void {
    if (!(stored instanceof MapLattice)) return;
    for (const [step, value] of (stored as MapLattice<Lattice>).entries()) {
      if (value instanceof PriorityLattice) this.found.set(step, value.value as Logged);
    }
  }
}
