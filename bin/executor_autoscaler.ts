// The supervisor's half of autoscaling: it follows the executors' heartbeats
// on NATS, asks the policy once a heartbeat period, and starts or drains
// executor processes. (Each executor's thread pool grows and shrinks within
// its own bounds by itself: piscina adds threads while tasks queue and lets
// idle ones go.)

import { NatsTransport } from '../lib/actor/nats_transport.js';
import { Membership } from '../lib/membership.js';
import { subjectsFor } from '../lib/subjects.js';
import { AutoscalingPolicy, type AutoscaleOptions } from '../router/autoscaling_policy.js';
import type { LocalCluster } from './local_cluster.js';

export async function startAutoscaler(cluster: LocalCluster, opts: AutoscaleOptions, heartbeatMs: number): Promise<{ stop(): Promise<void> }> {
  // Under roles it connects as a router: it only follows heartbeats, which a router may.
  const transport = await NatsTransport.connect({ servers: cluster.natsUrl, auth: cluster.authFor('router'), name: 'cloudburst-autoscaler' });
  const membership = new Membership(3 * heartbeatMs);
  const following = membership.follow(transport, subjectsFor(cluster.prefix));
  const policy = new AutoscalingPolicy(opts);
  let changing: Promise<void> | undefined;
  const tick = (): void => {
    if (changing) return;
    const mine = new Set(cluster.executors.map((n) => n.id));
    const executors = membership.live('executor').filter((m) => mine.has(m.id));
    // Decide only once every executor we run is heard from.
    if (executors.length !== mine.size) return;
    const decision = policy.decide(executors);
    if (decision === 'grow') changing = cluster.addExecutor();
    if (decision === 'shrink') {
      const idlest = [...executors].sort((a, b) => Number(a['running'] ?? 0) - Number(b['running'] ?? 0))[0]!;
      changing = cluster.removeExecutor(idlest.id);
    }
    void changing?.finally(() => (changing = undefined));
  };
  const timer = setInterval(tick, heartbeatMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await changing?.catch(() => undefined);
      following.unsubscribe();
      await transport.close();
    },
  };
}
