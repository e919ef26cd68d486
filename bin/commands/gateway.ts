// `cloudburst gateway`: the HTTP gateway (lib/gateway/) in the foreground,
// on one SDK connection to the cluster, until SIGTERM or Ctrl-C. `up --http`
// runs the same in its own process (gatewayOptions, serveGateway).

import type { Argv, CommandModule } from 'yargs';
import { Cloudburst, withAddressSource } from '../../lib/client/cloudburst.js';
import { withRecordedCredentials } from '../../lib/client/cluster_file.js';
import { GATEWAY_DEFAULTS } from '../../lib/gateway/defaults.js';
import type { Gateway, GatewayOptions } from '../../lib/gateway/gateway.js';
import { createLogger, type LogLevel } from '../../lib/log.js';
import { natsAuthFromArgs, type NatsAuthArgs } from '../nats_auth_options.js';
import { joinAddress, withJoinedNats } from '../options.js';

/** The gateway's own options, shared by `gateway` (which also takes --port and --host) and `up` (--http, --http-host). */
export interface GatewayLimitArgs {
  'body-limit': number;
  'request-timeout-ms': number;
  'max-connections': number;
  'max-in-flight': number;
  'max-timeout-ms': number;
}

export function gatewayLimitOptions<T>(y: Argv<T>) {
  return y
    .option('body-limit', {
      type: 'number',
      default: GATEWAY_DEFAULTS.bodyLimitBytes,
      describe: 'largest request body in bytes; larger ones get 413 (default: the cluster\'s largest message)',
    })
    .option('request-timeout-ms', {
      type: 'number',
      default: GATEWAY_DEFAULTS.requestTimeoutMs,
      describe: 'a client must send its whole request (headers and body) within this; slower ones get 408 and are disconnected',
    })
    .option('max-connections', { type: 'number', default: GATEWAY_DEFAULTS.maxConnections, describe: 'HTTP connections open at once; more are closed as they arrive' })
    .option('max-in-flight', {
      type: 'number',
      default: GATEWAY_DEFAULTS.maxInFlight,
      describe: 'requests to the cluster outstanding at once; more get 503 NO_CAPACITY with Retry-After',
    })
    .option('max-timeout-ms', {
      type: 'number',
      default: GATEWAY_DEFAULTS.maxTimeoutMs,
      describe: 'longest deadline a request may ask for (Cloudburst-Timeout-Ms); more is refused with 400',
    });
}

export function gatewayLimits(a: GatewayLimitArgs): GatewayOptions {
  return {
    bodyLimitBytes: a['body-limit'],
    requestTimeoutMs: a['request-timeout-ms'],
    maxConnections: a['max-connections'],
    maxInFlight: a['max-in-flight'],
    maxTimeoutMs: a['max-timeout-ms'],
  };
}

interface GatewayArgs extends NatsAuthArgs, GatewayLimitArgs {
  nats: string | undefined;
  prefix: string | undefined;
  timeout: number;
  port: number;
  host: string;
  'log-level': string;
}

/** Starts a gateway; fastify is loaded here, not by every command of the CLI. */
export async function startGateway(client: Cloudburst, opts: GatewayOptions): Promise<Gateway> {
  const { Gateway } = await import('../../lib/gateway/gateway.js');
  return Gateway.start(client, opts);
}

/** Resolves on the first SIGTERM or SIGINT, saying which. */
export function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: string) => (): void => {
      process.off('SIGTERM', term);
      process.off('SIGINT', int);
      resolve(signal);
    };
    const term = on('SIGTERM');
    const int = on('SIGINT');
    process.once('SIGTERM', term);
    process.once('SIGINT', int);
  });
}

export const gatewayCommand: CommandModule<object, GatewayArgs> = {
  command: 'gateway',
  describe:
    'serve the cluster over HTTP: POST /call/:fn, POST /dag/:name, GET|PUT|DELETE /kv/:key, GET /openapi.json, GET /healthz ' +
    '(docs/operations.md, "HTTP gateway"); no authentication of its own: keep it on 127.0.0.1 or behind a proxy. SIGTERM or Ctrl-C stops it',
  builder: (y) =>
    gatewayLimitOptions(withJoinedNats(y))
      .option('port', { type: 'number', default: 8080, describe: 'HTTP port (0: a free one, printed when listening)' })
      .option('host', { type: 'string', default: GATEWAY_DEFAULTS.host, describe: 'interface to listen on (0.0.0.0: every one)' })
      .option('timeout', { type: 'number', default: 30_000, describe: 'deadline in ms of calls that name none (Cloudburst-Timeout-Ms)' }),
  handler: async (a) => {
    const address = joinAddress(a);
    let client: Cloudburst;
    try {
      client = await Cloudburst.connect({ servers: address.servers, auth: withRecordedCredentials(natsAuthFromArgs(a), address), prefix: address.prefix, timeoutMs: a.timeout });
    } catch (err) {
      throw withAddressSource(err, address);
    }
    const say = (line: string): void => void process.stderr.write(`[gateway] ${line}\n`);
    let gateway: Gateway;
    try {
      gateway = await startGateway(client, { ...gatewayLimits(a), port: a.port, host: a.host, log: createLogger('gateway', a['log-level'] as LogLevel) });
    } catch (err) {
      await client.close();
      throw err;
    }
    process.stdout.write(`cloudburst gateway listening on ${gateway.url} (cluster ${String(address.servers)}, prefix ${address.prefix})\n`);
    say(`${await stopSignal()}: stopping (requests under way may finish)`);
    await gateway.close();
    await client.close();
    say('stopped');
  },
};
