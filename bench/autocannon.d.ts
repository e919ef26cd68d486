// The part of autocannon's API the http bench uses; the package ships no
// types of its own.

declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  export interface Options {
    url: string;
    connections?: number;
    /** Seconds. */
    duration?: number;
    method?: string;
    body?: string;
    headers?: Record<string, string>;
    /** Seconds to wait for an answer before counting a timeout. */
    timeout?: number;
    pipelining?: number;
  }

  export interface Result {
    errors: number;
    timeouts: number;
    non2xx: number;
    resets: number;
    mismatches: number;
    requests: { average: number; total: number };
  }

  /** Emits `response` (client, statusCode, resBytes, responseTimeMs) for every answer; resolves with the totals. */
  export interface Instance extends EventEmitter, PromiseLike<Result> {
    stop(): void;
  }

  export default function autocannon(opts: Options): Instance;
}
