// The executor's copy of function code, loaded from the KVS on first use and
// dropped when a `fn.updated` notice says the function was registered again.

import type { KvsClient } from '../../lib/client/kvs_client.js';
import { FunctionNotFound, MalformedMessage } from '../../lib/errors.js';
import { functionKey, type FunctionRecord } from '../../lib/function_record.js';

export class FunctionCache {
  private readonly records = new Map<string, Promise<FunctionRecord>>();

  constructor(private readonly kvs: KvsClient) {}

  get(name: string, deadline: number): Promise<FunctionRecord> {
    let record = this.records.get(name);
    if (!record) {
      const fetching = this.fetch(name, deadline);
      this.records.set(name, fetching);
      // A failed fetch is forgotten so the next call tries again, unless a
      // newer fetch (after an invalidation) has taken its place meanwhile.
      fetching.catch(() => this.records.get(name) === fetching && this.records.delete(name));
      record = fetching;
    }
    return record;
  }

  invalidate(name: string): void {
    this.records.delete(name);
  }

  private async fetch(name: string, deadline: number): Promise<FunctionRecord> {
    const stored = await this.kvs.get(functionKey(name), { deadline });
    if (stored === undefined) throw new FunctionNotFound(`no function named "${name}" is registered`, { data: { name } });
    const record = stored.reveal() as Partial<FunctionRecord> | undefined;
    if (typeof record?.code !== 'string' || typeof record.hash !== 'string') {
      throw new MalformedMessage(`the stored record of function "${name}" is damaged`);
    }
    return { name, code: record.code, hash: record.hash };
  }
}
