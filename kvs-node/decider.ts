// First writer wins on a field of a map key (the KVS `decide` op), decided by
// the key's primary replica alone: the first shard in the key's ring order.
//   - The primary serialises the decides of one (key, field): a second one
//     waits for the first, then finds its value.
//   - The value it keeps (the field's, if it has one, else the proposal) goes
//     to every other replica first (`accept`, stored durably there), and is
//     stored here only once every replica has it; then it is answered (not
//     waiting for this shard's own disk write, unless it is the only
//     replica). So the shard that becomes primary after this one fails (the
//     next in ring order, a replica) holds every decision this one answered,
//     and a primary that crashed mid-decide and restarts holds a value of
//     its own only if every replica already did.
//   - A replica accepts only from the shard it takes as the key's primary
//     (WrongShard otherwise): two shards that each take themselves as primary
//     during a ring change cannot both collect every replica, so neither
//     answers until the views agree.
//   - A replica that already held another value for the field (a candidate
//     of a decide that was never answered: its primary failed, or views
//     differed) merges the two and answers the merge; the primary then
//     proposes the merge again, so all replicas agree before anyone is
//     answered. With a priority lattice of fixed priority the merge picks
//     the larger value: a deterministic choice among values nobody was told.
//   - Both the primary and the replicas store through ShardStore.put, so a
//     decided value is stamped like any put (after the key's tombstone, if
//     it was deleted) and travels in the key's record by gossip, hand-off
//     and join pulls.
//   - The primary decides only with a majority of the shards it knows of, or
//     of the key's replicas among them (decide_quorum.ts): a shard cut off
//     by a partition, or restarted where it hears nobody, does not decide
//     alone while the other side decides too.
// A lock (the `lock` and `unlock` ops, lib/kvs/locks.ts) is decided the
// same way with another rule for what the primary keeps (`DecideRule`): not
// the first value, but what the lock's state and the request make of it,
// stored with the lease as the record's expiry on every replica.
// It is not consensus: there are no ballots. A candidate left on a replica
// that then crashed, restarting after another value was answered without
// it, merges in and can change the answer (two failures within one
// decide, or views that disagree across several ring changes).

import type { ShardInfo } from '../lib/kvs/ring_view.js';
import { CloudburstError, NoCapacity, type WrongShard } from '../lib/errors.js';
import { MapLattice, mergeLattices, type Lattice } from '../lib/lattice/index.js';
import type { ShardStore } from './storage/index.js';

/**
 * Rounds of a decide's replication: a second is needed only when a replica
 * held another candidate, and the merge picks one of the candidates, so the
 * third round agrees unless a decide elsewhere keeps interfering.
 */
const DECIDE_ROUNDS = 3;

/** What the decider needs of its shard. */
export interface DeciderHost {
  readonly id: string;
  readonly store: ShardStore;
  /** The key's primary replica in this shard's view of the ring. */
  primary(key: string): ShardInfo | undefined;
  /** The key's other replicas a write goes to, in this shard's view. */
  otherReplicas(key: string): ShardInfo[];
  /** Told of every merge into `key` (watches). */
  merged(key: string, value: Lattice): void;
  /** Told of a disk write of `key` that failed after the decide was answered. */
  failed(err: unknown, key: string): void;
  /** Sends an `accept` to a replica (with the record's expiry, 0: none); resolves with what it then holds for the field. */
  accept(replica: ShardInfo, key: string, field: string, value: Lattice, expiresAt: number): Promise<Lattice>;
  wrongShard(key: string, what: string): WrongShard;
  /**
   * Brings in what the key's previous replicas hold when a ring change still
   * in hand-off made this shard one of its replicas; rejects when none of them
   * answers (see KvsNode.fromPrevious).
   */
  fromPrevious(key: string): Promise<void>;
  /**
   * Why this shard may not answer a decide of `key` that `holders` (itself
   * included) take, or undefined when it may (see decide_quorum.ts).
   */
  refusal(key: string, holders: string[]): string | undefined;
}

/** Field `field` of the map lattice `value`, if it is one. */
function fieldOf(value: Lattice | undefined, field: string): Lattice | undefined {
  return value instanceof MapLattice ? (value as MapLattice<Lattice>).get(field) : undefined;
}

const same = (a: Lattice, b: Lattice): boolean => a.kind === b.kind && a.equals(b);

/**
 * What a decide keeps, when not first-writer-wins: `choose` gets what the
 * field holds (undefined: nothing) and gives what to keep, and the expiry
 * to store the record with (0: none; an expiry only ever moves later).
 */
export interface DecideRule {
  choose(held: Lattice | undefined): { value: Lattice; expiresAt: number };
}

export class Decider {
  /** The decide in progress per (key, field); removed when it settles, so this holds only work in flight. */
  private readonly deciding = new Map<string, Promise<Lattice>>();

  constructor(private readonly host: DeciderHost) {}

  /** The field's decided value, deciding `value` if it has none (or what `rule` chooses). Only the key's primary may ask. */
  decide(key: string, field: string, value: Lattice, rule?: DecideRule): Promise<Lattice> {
    if (this.host.primary(key)?.id !== this.host.id) return Promise.reject(this.host.wrongShard(key, 'is not the primary replica of'));
    const id = `${key}\u0000${field}`;
    const before = this.deciding.get(id);
    const run = (before ? before.then(noop, noop) : Promise.resolve()).then(() => this.decideNow(key, field, value, rule));
    this.deciding.set(id, run);
    const done = (): void => void (this.deciding.get(id) === run && this.deciding.delete(id));
    run.then(done, done);
    return run;
  }

  /** An `accept` from the primary `from`: stored here (merged), answered with what this replica then holds for the field. */
  async accept(from: string, key: string, field: string, value: Lattice, expiresAt = 0): Promise<Lattice> {
    if (this.host.primary(key)?.id !== from) throw this.host.wrongShard(key, `takes another shard than ${from} as the primary of`);
    return this.store(key, field, value, expiresAt);
  }

  private async decideNow(key: string, field: string, value: Lattice, rule: DecideRule | undefined): Promise<Lattice> {
    // A primary that just took the key over may not hold its decisions yet.
    await this.host.fromPrevious(key);
    const held = fieldOf(this.host.store.get(key), field);
    const chosen = rule ? rule.choose(held) : { value: held ?? value, expiresAt: 0 };
    let decided = chosen.value;
    const { expiresAt } = chosen;
    for (let round = 0; round < DECIDE_ROUNDS; round++) {
      const others = this.host.otherReplicas(key);
      const refused = this.host.refusal(key, [this.host.id, ...others.map((r) => r.id)]);
      if (refused !== undefined) throw new NoCapacity(refused);
      const held = await Promise.all(others.map((r) => this.acceptAt(r, key, field, decided, expiresAt)));
      // Every other replica holds it durably: the answer need not wait for
      // this shard's own disk write (it pulls the value back from them if it
      // restarts without it), unless there is no other replica.
      const written = this.host.store.put(key, new MapLattice([[field, held.reduce((a, b) => mergeLattices(a, b), decided)]]), expiresAt);
      // Memory changes before the write (or the merge failed: the write says why).
      let here = fieldOf(this.host.store.get(key), field);
      if (others.length === 0 || here === undefined) here = fieldOf(await written, field);
      // Stored with an expiry already due: nothing is left to answer with.
      if (here === undefined) throw new NoCapacity(`the decision on "${key}" expired as it was stored`);
      else written.catch((err: unknown) => this.host.failed(err, key));
      this.host.merged(key, this.host.store.get(key)!);
      if (same(here, decided) && held.every((h) => same(h, decided))) return decided;
      decided = here;
    }
    throw new NoCapacity(`the replicas of "${key}" did not agree on "${field}" in ${DECIDE_ROUNDS} rounds`);
  }

  private async acceptAt(replica: ShardInfo, key: string, field: string, value: Lattice, expiresAt: number): Promise<Lattice> {
    try {
      return await this.host.accept(replica, key, field, value, expiresAt);
    } catch (err) {
      // Retryable for the client: it goes again once the ring has moved (a dead replica dropped, views agreeing).
      if (err instanceof CloudburstError && (err.code === 'DEADLINE_EXCEEDED' || err.code === 'WRONG_SHARD')) throw err;
      throw new NoCapacity(`replica ${replica.id} did not take the decision on "${key}"`, { cause: err });
    }
  }

  private async store(key: string, field: string, value: Lattice, expiresAt: number): Promise<Lattice> {
    // A put is stamped after any due expiry of the key, so it always leaves a value.
    const merged = (await this.host.store.put(key, new MapLattice([[field, value]]), expiresAt))!;
    this.host.merged(key, merged);
    return fieldOf(merged, field)!;
  }
}

function noop(): void {}
