import { randomBytes } from 'node:crypto';

/** A short random id, safe as a NATS subject token. */
export function newId(prefix = ''): string {
  return prefix + randomBytes(6).toString('hex');
}
