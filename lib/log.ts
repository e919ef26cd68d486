// Structured logs (one JSON line each, on stderr so stdout stays for command
// output), quiet by default: `--log-level` or CB_LOG_LEVEL turns them up.

import { pino, type Logger } from 'pino';

export type { Logger };
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** CB_LOG_LEVEL when it names a level, else `warn`: the default of every node, client and command. */
export function defaultLogLevel(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const fromEnv = env['CB_LOG_LEVEL'];
  return LOG_LEVELS.find((l) => l === fromEnv) ?? 'warn';
}

export function createLogger(name: string, level: LogLevel = defaultLogLevel()): Logger {
  return pino({ name, level }, pino.destination({ fd: 2, sync: false }));
}
