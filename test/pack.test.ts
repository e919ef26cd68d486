// The install path the README gives for another project: `npm pack` in the
// clone, `npm install <tarball>` in the project, then `npx cloudburst` and
// `import 'cloudburst-ts'` there. Opt-in (CLOUDBURST_TEST_PACK=1): the
// install fetches the dependencies' metadata from the npm registry (the
// local npm cache alone does not satisfy `--offline`) and takes a minute or
// more, too slow and too dependent on the network for every `npm test`.

import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { CliProcess } from './fixtures/cli.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, timeout: timeoutMs }, (err, out, errOut) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${errOut}`)) : resolve(out)));
  });
}

t.test('npm pack, npm install <tarball> in another project: the CLI and the SDK work there', { skip: process.env.CLOUDBURST_TEST_PACK === '1' ? false : 'set CLOUDBURST_TEST_PACK=1 (needs the npm registry)' }, async (t) => {
  t.setTimeout(600_000);
  const work = await mkdtemp(join(tmpdir(), 'cb-pack-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  // --ignore-scripts: dist is already built (pretest); prepack would build again.
  await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], repo, 120_000);
  const [tarball] = (await readdir(work)).filter((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack wrote no tarball');
  const project = join(work, 'myapp');
  await cp(join(repo, 'examples', 'hello'), project, { recursive: true });
  await writeFile(join(project, 'package.json'), '{ "name": "myapp", "version": "1.0.0", "private": true, "type": "module" }\n');
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, tarball)], project, 400_000);

  const up = new CliProcess(['up', '--threads', '1'], process.env, project, join(project, 'node_modules', '.bin', 'cloudburst'));
  t.teardown(async () => {
    if (up.child.exitCode === null && up.child.signalCode === null) {
      up.interrupt();
      await up.exited();
    }
  });
  await up.waitFor(/cluster ready/);
  const cli = join(project, 'node_modules', '.bin', 'cloudburst');
  t.match(await run(process.execPath, [cli, 'register', 'sum.mjs'], project, 60_000), /registered sum/, 'the installed CLI registers');
  t.equal(await run(process.execPath, [cli, 'call', 'sum', '2', '3'], project, 60_000), '5\n', 'and calls');
  // likes.mjs imports 'cloudburst-ts': here that is the installed package.
  t.equal(await run(process.execPath, ['likes.mjs'], project, 60_000), 'edsger makes it 3\npost-1 is liked by ada, alan, barbara, edsger, grace\nhello\n', 'the SDK, imported by name');
});
