// The `lock`, `unlock` and `seal` ops as decides (decider.ts) with a rule of their
// own (lib/kvs/locks.ts says what a lock record holds): what the key's
// primary keeps given the record's state and the request, and the expiry the
// record is stored with. Every record so stored expires: a held lock at its
// lease, a free one a moment after its release (its generation then starts
// again from the clock, which is above it), so lock records never pile up;
// never sooner than FREE_LINGER_MS from the decide, so a lease that is
// already over does not make the record vanish as it is stored.

import { LOCK_FIELD, encodeLock, grant, parseLock, release, seal, type LockState } from '../lib/kvs/locks.js';
import type { KvsOp } from '../lib/kvs/protocol.js';
import type { Lattice } from '../lib/lattice/index.js';
import type { DecideRule } from './decider.js';

/** How long a released lock's record stays (it carries the generation a late reply can be checked against). */
const FREE_LINGER_MS = 1_000;

export type LockOp = Extract<KvsOp, { op: 'lock' } | { op: 'unlock' } | { op: 'seal' }>;

export { LOCK_FIELD };

/** The rule that decides `op` on its record's primary, judged on that shard's clock. */
export function lockRule(op: LockOp, now = Date.now): DecideRule {
  return {
    choose(held: Lattice | undefined) {
      const at = now();
      const before = parseLock(held);
      const after: LockState =
        op.op === 'lock'
          ? grant(before, op.owner, op.until, at)
          : op.op === 'seal'
            ? seal(before, op.owner, op.generation, op.token, op.until, at)
            : release(before, op.owner, op.seal);
      // Never an expiry already due when the record is stored (the store would delete it as it stores it, leaving no answer).
      return { value: encodeLock(after), expiresAt: Math.max(after.until, at + FREE_LINGER_MS) };
    },
  };
}
