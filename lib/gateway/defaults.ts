// The gateway's defaults, apart from gateway.ts so the CLI can show them in
// --help without loading fastify for every command.

import { DEFAULT_MAX_MESSAGE_BYTES } from '../config.js';

export const GATEWAY_DEFAULTS = {
  port: 0,
  host: '127.0.0.1',
  bodyLimitBytes: DEFAULT_MAX_MESSAGE_BYTES,
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 72_000,
  maxConnections: 1000,
  maxInFlight: 1024,
  maxTimeoutMs: 5 * 60_000,
  closeGraceMs: 10_000,
} as const;
