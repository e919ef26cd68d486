// The KVS request shape, shared by the shard that serves it and the client
// that batches into it: one `batch` message holds many operations, and each
// gets its own result, so one bad operation fails alone.

import { obj, str, lattice } from './codec/index.js';
import { MalformedMessage, type WireError } from './errors.js';
import type { Lattice } from './lattice/index.js';

export const KVS_BATCH = 'batch';

export type KvsOp =
  | { op: 'get'; key: string }
  | { op: 'put'; key: string; value: Lattice }
  | { op: 'del'; key: string };

/** `value` for a get (absent: no such key), `error` when the op failed. */
export interface KvsResult {
  value?: Lattice;
  error?: WireError;
}

export function parseOp(raw: unknown): KvsOp {
  const o = obj(raw, 'kvs operation');
  const key = str(o, 'key');
  switch (o['op']) {
    case 'get':
      return { op: 'get', key };
    case 'put':
      return { op: 'put', key, value: lattice(o, 'value') };
    case 'del':
      return { op: 'del', key };
    default:
      throw new MalformedMessage(`unknown kvs operation ${String(o['op'])}`);
  }
}
