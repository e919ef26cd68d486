// A reference to a KVS key passed as a call argument (Cloudburst's
// `CloudburstReference`): the executor replaces it with the key's value
// before the function runs, reading its cache, and the scheduler prefers the
// executor that already caches the referenced keys.

import { MalformedMessage } from './errors.js';
import { FUTURES_PREFIX, checkUserKey } from './reserved_keys.js';

/** CBOR tag of a reference; lattices use 40501-40510. */
export const REFERENCE_TAG = 40520;

export class Ref {
  constructor(readonly key: string) {
    // The results of earlier calls (futures) may be referenced too.
    if (!key.startsWith(FUTURES_PREFIX)) checkUserKey(key);
  }

  /** A reference to a call's result that may not exist yet: the executor waits for it. */
  get isFuture(): boolean {
    return this.key.startsWith(FUTURES_PREFIX);
  }

  static fromData(data: unknown): Ref {
    if (typeof data !== 'string' || data.length === 0) throw new MalformedMessage('a reference must name a key');
    return new Ref(data);
  }
}

/** `ref('key')` as a call argument stands for the value stored under `key`. */
export function ref(key: string): Ref {
  return new Ref(key);
}

/** The keys the top-level arguments refer to. */
export function referencedKeys(args: unknown[]): string[] {
  return args.filter((a): a is Ref => a instanceof Ref).map((r) => r.key);
}
