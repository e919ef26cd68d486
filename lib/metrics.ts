// Prometheus metrics of one node: a prom-client registry (the node's own, so
// several nodes in one process never share counters) with prom-client's
// default process metrics, served as text on http://<host>:<port>/metrics.
// A node given no metrics port has no Metrics at all: its hooks are
// `metrics?.…`, so they cost nothing and no HTTP server runs. The metric
// names are in node_metrics.ts.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { InvalidArgument } from './errors.js';

/** Latency buckets, seconds: from a no-op call's fraction of a millisecond to a half-minute deadline. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A scrape that has not finished in this long is cut off. */
const SCRAPE_TIMEOUT_MS = 10_000;

export interface MetricsOptions {
  /** Every metric is labelled with the node's kind and id. */
  kind: string;
  id: string;
  /** TCP port of the HTTP server; 0 picks a free one (see `port` once listening). */
  port: number;
  /** Interface to listen on. Default: all of them, so a Prometheus elsewhere can scrape. */
  host?: string;
}

export class Metrics {
  readonly registry = new Registry();
  private server: Server | undefined;

  constructor(private readonly opts: MetricsOptions) {
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65_535) {
      throw new InvalidArgument(`the metrics port must be an integer in [0, 65535], not ${opts.port}`);
    }
    this.registry.setDefaultLabels({ kind: opts.kind, node: opts.id });
    collectDefaultMetrics({ register: this.registry });
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  /** Durations in seconds, in LATENCY_BUCKETS. */
  latency<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Histogram<L> {
    return new Histogram({ name, help, labelNames, buckets: LATENCY_BUCKETS, registers: [this.registry] });
  }

  /** A gauge read from the node at each scrape. */
  gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** A counter whose running total the node keeps itself (e.g. in shared memory), read at each scrape. */
  total(name: string, help: string, read: () => number): void {
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }

  /** Starts serving; resolves with the port once it listens. */
  async listen(): Promise<number> {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('metrics are at GET /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
    });
    server.requestTimeout = SCRAPE_TIMEOUT_MS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return this.port!;
  }

  /** The port the server listens on, once it does. */
  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // A scraper's keep-alive connection would otherwise hold the node up.
    server.closeAllConnections();
    await closed;
  }
}
