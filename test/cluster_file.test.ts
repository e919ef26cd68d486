// A cluster started with `cloudburst up` is found without copying its URL:
// up picks a free port for its private nats-server, so a default URL would
// reach some other NATS (issue 13: the README example hung 31 s against one).
// up records its URL and prefix in .cloudburst/cluster.json of its directory;
// commands run there (or below) without --nats use it, an explicit --nats
// wins, and a clean stop removes it. A record a killed up left is covered in
// cli.test.ts, next to the kill.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { clusterAddress, writeClusterRecord } from '../lib/client/cluster_file.js';
import { CliProcess, cliIn } from './fixtures/cli.js';

t.test('commands without --nats reach the cluster up recorded in their directory; --nats wins; Ctrl-C removes the record', async (t) => {
  const project = await mkdtemp(join(tmpdir(), 'cb-up-project-'));
  t.teardown(() => rm(project, { recursive: true, force: true }));
  const up = new CliProcess(['up', '--prefix', 'cbfind', '--threads', '1', '--data-dir', join(project, 'data')], process.env, project);
  t.teardown(async () => {
    if (up.child.exitCode === null && up.child.signalCode === null) {
      up.interrupt();
      await up.exited();
    }
  });
  const [, natsUrl] = (await up.waitFor(/cluster ready: --nats (\S+)/)) as [string, string];

  const recordPath = join(project, '.cloudburst', 'cluster.json');
  const record = JSON.parse(await readFile(recordPath, 'utf8')) as unknown;
  t.match(record, { nats: natsUrl, prefix: 'cbfind', pid: up.child.pid }, 'up records its URL, prefix and pid');
  t.ok(up.lines.some((l) => l.includes(`recorded in ${recordPath}`)), 'and says where');
  const sub = join(project, 'src');
  await mkdir(sub);
  t.match(clusterAddress({}, sub), { servers: natsUrl, prefix: 'cbfind', from: recordPath }, 'the SDK finds it, from a subdirectory too');
  t.match(clusterAddress({ prefix: 'mine' }, sub), { servers: natsUrl, prefix: 'mine' }, 'a prefix given wins over the recorded one');

  // Neither --nats nor --prefix (the cluster's prefix is not the default cb).
  await writeFile(join(sub, 'sum.mjs'), 'export default async (cb, a, b) => a + b;\n');
  t.match((await cliIn({ cwd: sub }, 'register', 'sum.mjs')).stdout, /registered sum/, 'register, from a subdirectory');
  t.equal((await cliIn({ cwd: project }, 'call', 'sum', '2', '3')).stdout.trim(), '5', 'call');
  const elsewhere = await cliIn({ cwd: project }, 'call', 'sum', '2', '3', '--nats', 'nats://127.0.0.1:1');
  t.match(elsewhere.stderr, /^cloudburst: UNAVAILABLE: cannot connect to NATS at nats:\/\/127\.0\.0\.1:1: /, 'an explicit --nats wins over the record');

  up.interrupt();
  t.equal(await up.exited(), 0, 'up stops cleanly');
  t.notOk(existsSync(recordPath), 'and removes its record');
});

t.test('a record that cannot be trusted is ignored, saying why; servers given win over any record', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cb-record-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, '.cloudburst'));
  const path = join(dir, '.cloudburst', 'cluster.json');
  t.same(clusterAddress({}, dir), { servers: 'nats://127.0.0.1:4222', prefix: 'cb', from: 'default' }, 'no record: the default, nothing to say');

  await writeFile(path, '{"nats": "nats://127.0.0.1:1", "pr');
  t.match(clusterAddress({}, dir), { servers: 'nats://127.0.0.1:4222', notice: `ignoring ${path}: it is not a cluster record written by cloudburst up` }, 'not a record');

  // A pid that runs, but not a cloudburst command: after a kill -9 of up the pid went to another program.
  const other = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => void other.kill('SIGKILL'));
  await new Promise((resolve) => other.once('spawn', resolve));
  writeClusterRecord(dir, { nats: 'nats://127.0.0.1:1', prefix: 'p', pid: other.pid!, startedAt: new Date().toISOString() });
  t.match(
    clusterAddress({}, dir),
    { servers: 'nats://127.0.0.1:4222', prefix: 'cb', notice: `ignoring ${path}: the cloudburst up that wrote it (pid ${other.pid}) is no longer running (its pid is now another program's)` },
    'a pid now used by another program',
  );
  t.same(clusterAddress({ servers: 'nats://elsewhere:4222' }, dir), { servers: 'nats://elsewhere:4222', prefix: 'cb', from: 'given' }, 'servers given: the record is not read');
});
