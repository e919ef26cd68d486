// `cloudburst register` takes TypeScript (transpiled on the client) or
// JavaScript modules; syntax errors and relative imports are refused before
// anything is registered. Real CLI against a real in-process cluster.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { moduleSource } from '../lib/client/transpile.js';
import { InvalidArgument } from '../lib/errors.js';
import { cli } from './fixtures/cli.js';
import { startCluster } from './fixtures/cluster.js';

const TYPED = `import type { Lattice } from 'cloudburst-ts';
import type { Shape } from './shapes.js';
import { type Unit } from './units.js';

interface Box {
  w: number;
  h: number;
}

enum Scale {
  One = 1,
  Ten = 10,
}

const area = (b: Box): number => b.w * b.h;

export default async function (cb: { put(key: string, value: unknown): Promise<void> }, w: number, h: number): Promise<number> {
  const kept: Lattice | Shape | Unit | undefined = undefined;
  const a = area({ w, h }) * Scale.Ten;
  await cb.put('last-area', a satisfies number);
  return kept === undefined ? a : -1;
}
`;

const SYNTAX_ERROR = `export default async function (_cb: unknown, a: number): Promise<number> {
  const twice: number = a * 2;
  const broken: number = ;
  return twice + broken;
}
`;

t.test('moduleSource: transpiles TypeScript, passes JavaScript through, refuses what cannot run alone', async (t) => {
  const js = 'export default async (_cb, a) => a;\n';
  t.equal(await moduleSource('f.js', js), js, '.js unchanged');
  t.equal(await moduleSource('f.mjs', js), js, '.mjs unchanged');
  const out = await moduleSource('/x/f.ts', TYPED);
  t.notMatch(out, /interface|: number|import/, 'types and type-only imports are gone');
  t.match(out, /export default async function/);
  for (const ext of ['.mts', '.cts']) {
    const esm = await moduleSource(`f${ext}`, 'export default (x: number) => x;');
    t.match(esm, /export default \(x\) => x/, `${ext} becomes an ES module`);
    t.notMatch(esm, /exports|require/, `${ext} is not CommonJS`);
  }
  t.equal(await moduleSource('f.ts', 'const n: string = 1; export default () => n;').then(() => 'ok'), 'ok', 'type errors do not stop it');

  await t.rejects(moduleSource('f.txt', js), InvalidArgument, 'another extension');
  await t.rejects(moduleSource('f', js), InvalidArgument, 'no extension');
  await t.rejects(moduleSource('f.d.ts', 'export {};'), InvalidArgument, 'a declaration file');
  await t.rejects(moduleSource('/x/bad.ts', SYNTAX_ERROR), { name: 'InvalidArgument', message: /\/x\/bad\.ts:3:26: Expression expected/ });
  for (const src of [
    "import { h } from './helper.js'; export default () => h;",
    "export * from '../lib.js'; export default () => 1;",
    "export default async () => (await import('./late.js')).x;",
  ]) {
    await t.rejects(moduleSource('f.js', src), { name: 'InvalidArgument', message: /relative path/ }, src);
    await t.rejects(moduleSource('f.ts', src), { name: 'InvalidArgument', message: /relative path/ }, `${src} (ts)`);
  }
  t.equal(await moduleSource('f.js', "import { x } from 'node:fs'; // './a.js'\nexport default () => './b.js';\n").then(() => 'ok'), 'ok', 'specifier-like text elsewhere is fine');
});

t.test('register through the CLI', async (t) => {
  const cluster = await startCluster(t);
  const conn = ['--nats', cluster.nats.url];
  const dir = await mkdtemp(join(tmpdir(), 'cb-register-ts-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  t.test('a TypeScript module with types, an interface and type-only imports registers and runs', async (t) => {
    const file = join(dir, 'area.ts');
    await writeFile(file, TYPED);
    const reg = await cli('register', file, ...conn);
    t.equal(reg.code, 0, reg.stderr);
    t.match(reg.stdout, /registered area \([0-9a-f]{12}\)/);
    const call = await cli('call', 'area', '3', '4', ...conn);
    t.equal(call.code, 0, call.stderr);
    t.equal(call.stdout.trim(), '120');
    t.equal(await cluster.client.get('last-area'), 120, 'it used its state handle');
  });

  t.test('a syntax error fails naming the line, and registers nothing', async (t) => {
    const file = join(dir, 'bad.ts');
    await writeFile(file, SYNTAX_ERROR);
    const reg = await cli('register', file, ...conn);
    t.equal(reg.code, 1);
    t.match(reg.stderr, /INVALID_ARGUMENT: TypeScript syntax error/);
    t.match(reg.stderr, `${file}:3:26: Expression expected`);
    t.match((await cli('call', 'bad', ...conn)).stderr, /FUNCTION_NOT_FOUND/);
  });

  t.test('a module importing a relative file is refused with the reason', async (t) => {
    const file = join(dir, 'uses_helper.ts');
    await writeFile(file, "import { double } from './helper.js';\nexport default async (_cb: unknown, n: number) => double(n);\n");
    await writeFile(join(dir, 'helper.ts'), 'export const double = (n: number) => 2 * n;\n');
    const reg = await cli('register', file, ...conn);
    t.equal(reg.code, 1);
    t.match(reg.stderr, /INVALID_ARGUMENT: .*uses_helper\.ts imports the relative path "\.\/helper\.js"/);
    t.match(reg.stderr, /shipped alone/);
    t.match(reg.stderr, /cannot import files next to it/);
    t.match((await cli('call', 'uses_helper', ...conn)).stderr, /FUNCTION_NOT_FOUND/);
  });

  t.test('a JavaScript module still works', async (t) => {
    const file = join(dir, 'sum.js');
    await writeFile(file, 'export default async function (cb, a, b) { return a + b; }\n');
    const reg = await cli('register', file, ...conn);
    t.equal(reg.code, 0, reg.stderr);
    t.match(reg.stdout, /registered sum/);
    t.equal((await cli('call', 'sum', '2', '3', ...conn)).stdout.trim(), '5');
  });

  t.test('another extension is refused', async (t) => {
    const file = join(dir, 'notes.txt');
    await writeFile(file, 'export default () => 1;\n');
    const reg = await cli('register', file, ...conn);
    t.equal(reg.code, 1);
    t.match(reg.stderr, /INVALID_ARGUMENT: .*notes\.txt: cannot register a "\.txt" file/);
  });
});
