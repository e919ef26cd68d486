// What every node does before it serves: connect to NATS under a name that
// says what it is, make its logger, subjects and (given a port) metrics from
// its config.

import type { CommonConfig } from '../config.js';
import { newId } from '../ids.js';
import { createLogger } from '../log.js';
import { Metrics } from '../metrics.js';
import { subjectsFor } from '../subjects.js';
import type { ActorOptions, NodeKind } from './actor.js';
import { NatsTransport } from './nats_transport.js';

export async function actorOptions(kind: NodeKind, config: CommonConfig): Promise<ActorOptions> {
  const id = config.id ?? newId(`${kind}-`);
  const subjects = subjectsFor(config.prefix);
  // Before connecting: a bad port fails without leaving a connection open.
  const metrics = config.metricsPort === undefined ? undefined : new Metrics({ kind, id, port: config.metricsPort });
  const transport = await NatsTransport.connect({ servers: config.nats, name: `cloudburst-${id}`, ...(config.natsAuth ? { auth: config.natsAuth } : {}) });
  return {
    transport,
    subjects,
    id,
    logger: createLogger(`${kind}:${id}`, config.logLevel),
    heartbeatMs: config.heartbeatMs,
    maxMessageBytes: config.maxMessageBytes,
    ...(config.restarts === undefined ? {} : { restarts: config.restarts }),
    ...(metrics ? { metrics } : {}),
  };
}
