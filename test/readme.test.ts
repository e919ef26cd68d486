// What the README tells a newcomer to run works as written: its code example
// is examples/hello/likes.mjs word for word, and that file and
// examples/hello/sum.mjs (the CLI's example) run against `cloudburst up`
// started in the user's directory, found there without any URL.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { CliProcess, cliIn } from './fixtures/cli.js';
import { errors } from '../lib/errors.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const likes = join(repo, 'examples', 'hello', 'likes.mjs');
const sum = join(repo, 'examples', 'hello', 'sum.mjs');

t.test("the README's code example is examples/hello/likes.mjs", async (t) => {
  const readme = await readFile(join(repo, 'README.md'), 'utf8');
  const example = /```js readme-example\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!example) throw new Error('README has no ```js readme-example block');
  t.equal(example, await readFile(likes, 'utf8'), 'the same text: edit both');
  t.match(readme, 'cloudburst register examples/hello/sum.mjs', 'the CLI lines register the shipped sum.mjs');
});

t.test('examples/hello runs against cloudburst up in the same directory, with no URL given', async (t) => {
  const project = await mkdtemp(join(tmpdir(), 'cb-readme-'));
  t.teardown(() => rm(project, { recursive: true, force: true }));
  const up = new CliProcess(['up', '--threads', '1'], process.env, project);
  t.teardown(async () => {
    if (up.child.exitCode === null && up.child.signalCode === null) {
      up.interrupt();
      await up.exited();
    }
  });
  await up.waitFor(/cluster ready/);

  t.match((await cliIn({ cwd: project }, 'register', sum)).stdout, /registered sum/);
  t.equal((await cliIn({ cwd: project }, 'call', 'sum', '2', '3')).stdout, '5\n');
  // The file imports 'cloudburst-ts': inside the clone that resolves to this build.
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [likes], { cwd: project, timeout: 60_000 }, (err, out, errOut) =>
      err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
    );
  });
  t.equal(stdout, 'edsger makes it 3\npost-1 is liked by ada, alan, barbara, edsger, grace\nhello\n');
});

t.test('the README\'s error table lists every error class beside the code a caller matches on', async (t) => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const rows = readme.split('\n').filter((line) => line.startsWith('| `'));
  for (const [name, cls] of Object.entries(errors)) {
    const { code } = new cls('');
    const row = rows.find((r) => r.startsWith(`| \`${name}\` |`));
    t.ok(row, `${name} has a row`);
    t.match(row ?? '', `\`${code}\``, `${name}'s row names its code ${code}`);
  }
});
