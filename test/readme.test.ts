// The README's code example runs as written, against a real cluster.

import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { errors } from '../lib/errors.js';
import { startCluster } from './fixtures/cluster.js';

t.test('the README example prints what the README implies', async (t) => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const example = /```js readme-example\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!example) throw new Error('README has no ```js readme-example block');
  // Inside the package, so `import 'cloudburst-ts'` resolves to this build.
  const file = fileURLToPath(new URL('./readme_example.mjs', import.meta.url));
  await writeFile(file, example);
  const { nats } = await startCluster(t);
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [file], { env: { ...process.env, CLOUDBURST_NATS: nats.url }, timeout: 30_000 }, (err, out, errOut) =>
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
    const row = rows.find((r) => r.includes(`\`${name}\``));
    t.ok(row, `${name} has a row`);
    t.match(row ?? '', `\`${code}\``, `${name}'s row names its code ${code}`);
  }
});
