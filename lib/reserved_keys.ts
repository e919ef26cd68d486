// Keys the platform keeps in its own KVS. Users cannot write under the
// prefix, so a function or client can never overwrite code or settings.

import { InvalidArgument } from './errors.js';

export const RESERVED_PREFIX = '__cb/';

/** Replication factors pinned by users: a map lattice of key → last-writer-wins count (null unpins). */
export const PINNED_REPLICATION_KEY = `${RESERVED_PREFIX}replication`;

/** Results of calls made with `callFuture`, kept for arguments of later calls. */
export const FUTURES_PREFIX = `${RESERVED_PREFIX}futures/`;

/** A registered DAG's record. */
export function dagKey(name: string): string {
  return `${RESERVED_PREFIX}dag/${name}`;
}

export function checkUserKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidArgument('a key must be a non-empty string');
  if (key.startsWith(RESERVED_PREFIX)) throw new InvalidArgument(`keys starting with ${RESERVED_PREFIX} are reserved`);
  return key;
}
