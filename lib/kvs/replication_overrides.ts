// The hot-key replication table on the wire: a router publishes it on
// `<prefix>.replication` on every change and every heartbeat, so shards and
// clients that start later learn it within one period.

import type { Transport, Subscription } from '../actor/transport.js';
import { arr, decodeMessage, encodeMessage } from '../codec/index.js';
import { MalformedMessage } from '../errors.js';
import type { Subjects } from '../subjects.js';

export const KVS_REPLICATION = 'replication';

export function publishOverrides(transport: Transport, subjects: Subjects, overrides: [string, number][]): void {
  transport.publish(subjects.replication, encodeMessage(KVS_REPLICATION, { overrides }));
}

export function followOverrides(
  transport: Transport,
  subjects: Subjects,
  onOverrides: (overrides: [string, number][]) => void,
  onBadMessage: (err: unknown) => void,
): Subscription {
  return transport.subscribe(subjects.replication, (m) => {
    try {
      const overrides = arr(decodeMessage(m.data), 'overrides').map((e): [string, number] => {
        if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'number' || !(e[1] >= 1)) {
          throw new MalformedMessage('an override must be [key, replication factor]');
        }
        return [e[0], e[1]];
      });
      onOverrides(overrides);
    } catch (err) {
      onBadMessage(err);
    }
  });
}
