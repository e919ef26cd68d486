// A node started while NATS cannot be reached (NATS restarting, or not up
// yet) waits for it, up to --connect-wait-ms, instead of exiting: a node
// that exited at once stayed gone wherever no supervisor restarts it (the
// fault harness saw routers restarted during a NATS restart exit so).

import { createServer } from 'node:net';
import t from 'tap';
import { CliProcess, cli } from './fixtures/cli.js';
import { startNats } from './fixtures/nats.js';

/** A port nothing listens on (just given up by a listener). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

t.test('a node started before NATS waits for it and then serves; with --connect-wait-ms 0 it gives up at once', async (t) => {
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const gaveUp = await cli('router', '--nats', url, '--connect-wait-ms', '0');
  t.equal(gaveUp.code, 1, 'no wait: exits');
  t.match(gaveUp.stderr, /^cloudburst: UNAVAILABLE: cannot connect to NATS at /);

  const router = new CliProcess(['router', '--nats', url, '--connect-wait-ms', '60000']);
  t.teardown(() => router.child.kill('SIGKILL'));
  await router.waitFor(/trying again for up to 60 s/);
  t.equal(router.child.exitCode, null, 'still waiting');
  await startNats(t, { port });
  await router.waitFor(/ready on/);
  router.child.kill('SIGTERM');
  t.equal(await router.exited(), 0, 'then stops cleanly');
});
