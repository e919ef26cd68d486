// A NATS cluster of three servers whose routes the harness can cut: each
// server solicits its route to each other server through a TCP proxy of its
// own on loopback (one per ordered pair), and advertises a cluster address
// nothing listens on, so servers never find a way around the proxies. Cutting
// the pair (i, j) closes both proxies' connections and refuses new ones until
// healed; nodes attached to server i then no longer hear those on server j.
// Slowing the pair delays every chunk either way by a fixed time, in order: a
// far-away server, whose messages to one side arrive late but intact.

import { connect } from '@nats-io/transport-node';
import { createServer, Socket, type Server } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../bin/nats_server.js';
import { NatsProc } from './cluster.js';

/**
 * A loopback TCP proxy to `target` that can be cut (every connection dropped,
 * new ones refused) and healed, and slowed: each chunk is passed on `delayMs`
 * after it arrived, never before the chunks that arrived earlier.
 */
export class RouteProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private cut = false;
  private delayMs = 0;

  private constructor(
    readonly port: number,
    private readonly target: number,
  ) {
    this.server = createServer((inbound) => this.accept(inbound));
  }

  static async start(target: number): Promise<RouteProxy> {
    const proxy = new RouteProxy(await freePort(), target);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(proxy.port, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  private accept(inbound: Socket): void {
    if (this.cut) {
      inbound.destroy();
      return;
    }
    const outbound = new Socket();
    for (const s of [inbound, outbound]) {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
      // A reset from either side just ends the pair.
      s.on('error', () => undefined);
    }
    this.relay(inbound, outbound);
    this.relay(outbound, inbound);
    inbound.once('close', () => outbound.destroy());
    outbound.once('close', () => inbound.destroy());
    outbound.connect(this.target, '127.0.0.1');
  }

  /**
   * One direction of a connection: what `from` reads, `to` writes, each chunk
   * once it is `delayMs` old. One queue per direction and one timer for its
   * head keep the order even when the delay changes in between.
   */
  private relay(from: Socket, to: Socket): void {
    const queue: { due: number; chunk: Buffer }[] = [];
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    const flush = (): void => {
      timer = undefined;
      const now = performance.now();
      while (queue.length > 0 && queue[0]!.due <= now) {
        // Loopback and a route's traffic: backpressure is left to TCP behind `to`.
        if (!to.destroyed) to.write(queue.shift()!.chunk);
        else queue.shift();
      }
      if (queue.length > 0) timer = setTimeout(flush, queue[0]!.due - now);
      else if (ended) to.end();
    };
    from.on('data', (chunk: Buffer) => {
      queue.push({ due: performance.now() + this.delayMs, chunk });
      if (timer === undefined) flush();
    });
    from.once('end', () => {
      ended = true;
      if (timer === undefined) flush();
    });
    from.once('close', () => clearTimeout(timer));
  }

  /** Every chunk through this proxy from now on waits `ms` (0: passed on at once). */
  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  setCut(cut: boolean): void {
    this.cut = cut;
    if (cut) for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.setCut(true);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export class NatsCluster {
  private constructor(
    readonly servers: NatsProc[],
    /** `${from}-${to}`: the proxy server `from` reaches server `to` through. */
    private readonly proxies: Map<string, RouteProxy>,
  ) {}

  /**
   * Starts the servers and their proxies. A port handed out free can be taken
   * before a server binds it (a proxy's outgoing connection got it, about one
   * start in sixteen): then everything starts again on new ports.
   */
  static async start(size: number, logDir: string): Promise<NatsCluster> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await NatsCluster.startOnce(size, logDir);
      } catch (err) {
        if (attempt >= 3 || !String((err as Error).message).includes('address already in use')) throw err;
      }
    }
  }

  private static async startOnce(size: number, logDir: string): Promise<NatsCluster> {
    const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), cluster: await freePort(), nowhere: await freePort() })));
    const proxies = new Map<string, RouteProxy>();
    for (let from = 0; from < size; from++) {
      for (let to = 0; to < size; to++) if (from !== to) proxies.set(`${from}-${to}`, await RouteProxy.start(ports[to]!.cluster));
    }
    const servers = ports.map((p, i) => {
      const routes = ports.flatMap((_, j) => (j === i ? [] : [`nats://127.0.0.1:${proxies.get(`${i}-${j}`)!.port}`]));
      const args = [
        '-n', `nats-${i}`,
        '--cluster', `nats://127.0.0.1:${p.cluster}`, '--cluster_name', `verify-${process.pid}`,
        // Gossiped cluster addresses lead nowhere: routes go through the proxies only.
        '--cluster_advertise', `127.0.0.1:${p.nowhere}`,
        '--routes', routes.join(','),
        // Clients stay on the server they were given.
        '--no_advertise',
      ];
      return new NatsProc(p.client, join(logDir, `nats-server-${i}.log`), args);
    });
    const cluster = new NatsCluster(servers, proxies);
    try {
      await Promise.all(servers.map((s) => s.start()));
      await cluster.connected(30_000);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Cuts (or heals) the routes between servers `a` and `b`, both ways. */
  setCut(a: number, b: number, cut: boolean): void {
    this.proxies.get(`${a}-${b}`)?.setCut(cut);
    this.proxies.get(`${b}-${a}`)?.setCut(cut);
  }

  /** Delays everything between servers `a` and `b`, both ways, by `ms` (0: no delay). */
  setDelay(a: number, b: number, ms: number): void {
    this.proxies.get(`${a}-${b}`)?.setDelay(ms);
    this.proxies.get(`${b}-${a}`)?.setDelay(ms);
  }

  /** Cuts server `i` off from every other server. */
  isolate(i: number, cut: boolean): void {
    for (let j = 0; j < this.servers.length; j++) if (j !== i) this.setCut(i, j, cut);
  }

  healAll(): void {
    for (const p of this.proxies.values()) p.setCut(false);
  }

  /** Resolves once a message published on each server reaches a subscriber on every other one. */
  async connected(timeoutMs: number): Promise<void> {
    const conns = await Promise.all(this.servers.map((s) => connect({ servers: s.url, name: 'verify-route-probe' })));
    try {
      const heard = new Set<string>();
      const subject = `verify.probe.${Math.random().toString(36).slice(2)}`;
      conns.forEach((nc, to) => {
        nc.subscribe(subject, { callback: (_err, m) => void heard.add(`${m.string()}-${to}`) });
      });
      await Promise.all(conns.map((nc) => nc.flush()));
      const want = this.servers.length * (this.servers.length - 1);
      const until = Date.now() + timeoutMs;
      while ([...heard].filter((k) => k.split('-')[0] !== k.split('-')[1]).length < want) {
        if (Date.now() > until) throw new Error(`NATS routes not all up after ${timeoutMs} ms`);
        conns.forEach((nc, from) => nc.publish(subject, String(from)));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await Promise.all(conns.map((nc) => nc.close()));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.kill('SIGTERM')));
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
  }
}
