// Options shared by several commands, defined once so `--help` says the same
// thing everywhere.

import type { Argv } from 'yargs';
import { COMMON_DEFAULTS } from '../lib/config.js';
import { LOG_LEVELS } from '../lib/log.js';
import { withNatsAuth } from './nats_auth_options.js';

export const DEFAULT_NATS = 'nats://127.0.0.1:4222';

export function withPrefix<T>(y: Argv<T>) {
  return y
    .option('prefix', { type: 'string', default: COMMON_DEFAULTS.prefix, describe: 'subject prefix of the cluster (separates clusters on one NATS)' })
    .option('log-level', { type: 'string', choices: LOG_LEVELS, default: COMMON_DEFAULTS.logLevel, describe: 'log level (logs are JSON lines on stderr)' });
}

export function withNats<T>(y: Argv<T>, required: boolean) {
  return withNatsAuth(withPrefix(y)).option('nats', {
    type: 'string',
    describe: 'NATS URL of the cluster',
    ...(required ? { default: DEFAULT_NATS } : {}),
  });
}

/** Command-line text to a value: JSON where it parses, else the text itself. */
export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
