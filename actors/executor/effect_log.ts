// Exactly-once effects for a retried call (after Beldi): every read and
// write a function makes gets a step number (in program order, so a retry of
// deterministic code numbers them the same), and each step's outcome is
// logged in the KVS under the call's request id before it takes effect.
// A retry replays the log: a logged read returns the logged value, a logged
// write re-applies the logged lattice (a merge, so applying it again changes
// nothing), and a logged result is returned without running the function.
// Each step's entry is a priority lattice keyed by time, so when two attempts
// race on a step the earliest entry wins everywhere.

import type { KvsClient } from '../../lib/client/kvs_client.js';
import { MapLattice, PriorityLattice, type Lattice } from '../../lib/lattice/index.js';
import { RESERVED_PREFIX } from '../../lib/reserved_keys.js';

/** How long a finished call's log is kept for retries to find. */
export const LOG_RETENTION_MS = 10 * 60_000;

export const logKey = (requestId: string): string => `${RESERVED_PREFIX}log/${requestId}`;

/** A step's outcome: CBOR bytes (a lattice, or a result), or null for "absent". */
type Logged = Uint8Array | null;

export class EffectLog {
  private constructor(
    private readonly kvs: KvsClient,
    private readonly key: string,
    private readonly steps: Map<string, Logged>,
  ) {}

  static async open(kvs: KvsClient, requestId: string, deadline: number): Promise<EffectLog> {
    const key = logKey(requestId);
    const log = new EffectLog(kvs, key, new Map());
    log.absorb(await kvs.get(key, { all: true, deadline }));
    return log;
  }

  /** The call's logged result, if an earlier attempt finished it. */
  get result(): Logged | undefined {
    return this.steps.get('result');
  }

  /** What an earlier attempt logged for `step`, if anything. */
  step(step: string): Logged | undefined {
    return this.steps.get(step);
  }

  /**
   * The outcome of `step`: the logged one if there is one, else `produce()`'s,
   * logged first. When attempts race, every attempt gets the earliest.
   */
  async once(step: string, deadline: number, produce: () => Promise<Logged>): Promise<Logged> {
    if (this.steps.has(step)) return this.steps.get(step)!;
    const mine = await produce();
    await this.kvs.put(this.key, new MapLattice([[step, new PriorityLattice(Date.now(), mine)]]), deadline);
    this.absorb(await this.kvs.get(this.key, { all: true, deadline }));
    return this.steps.get(step) ?? mine;
  }

  private absorb(stored: Lattice | undefined): void {
    if (!(stored instanceof MapLattice)) return;
    const log = stored as MapLattice<Lattice>;
    for (const step of log.keys()) {
      const entry: Lattice | undefined = log.get(step);
      if (entry instanceof PriorityLattice) this.steps.set(step, entry.value as Logged);
    }
  }
}
