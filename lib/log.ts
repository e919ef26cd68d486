// Structured logs (one JSON line each, on stderr so stdout stays for command
// output), quiet by default: `--log-level` or CB_LOG_LEVEL turns them up.

import { pino, type Logger } from 'pino';

export type { Logger };
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function createLogger(name: string, level?: LogLevel): Logger {
  const fromEnv = process.env['CB_LOG_LEVEL'] as LogLevel | undefined;
  return pino({ name, level: level ?? fromEnv ?? 'warn' }, pino.destination({ fd: 2, sync: false }));
}
