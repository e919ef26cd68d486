// A process's copy of registered things (function code, DAGs), loaded from
// the KVS on first use and dropped when a registry notice says the name was
// registered again. Follows `<prefix>.registry` itself.

import type { Subscription, Transport } from './actor/transport.js';
import type { KvsClient } from './client/kvs_client.js';
import { decodeMessage, str } from './codec/index.js';
import type { RegistryKind } from './registry_kind.js';
import type { Subjects } from './subjects.js';

export class RegistryCache<T> {
  private readonly records = new Map<string, Promise<T>>();
  private readonly sub: Subscription;

  constructor(
    private readonly kvs: KvsClient,
    private readonly kind: RegistryKind<T>,
    transport: Transport,
    subjects: Subjects,
    onBadNotice: (err: unknown) => void,
  ) {
    this.sub = transport.subscribe(subjects.registry, (m) => {
      try {
        const notice = decodeMessage(m.data);
        if (notice.t === kind.notice) this.records.delete(str(notice, 'name'));
      } catch (err) {
        onBadNotice(err);
      }
    });
  }

  get(name: string, deadline: number): Promise<T> {
    let record = this.records.get(name);
    if (!record) {
      const fetching = this.kvs.get(this.kind.key(name), { deadline }).then((stored) => this.kind.parse(name, stored?.reveal()));
      this.records.set(name, fetching);
      // A failed fetch is forgotten so the next call tries again, unless a
      // newer fetch (after an invalidation) has taken its place meanwhile.
      fetching.catch(() => this.records.get(name) === fetching && this.records.delete(name));
      record = fetching;
    }
    return record;
  }

  close(): void {
    this.sub.unsubscribe();
  }
}
