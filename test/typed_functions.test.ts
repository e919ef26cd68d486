// Typed functions: argument and result types reach the caller (checked by
// tsc when this file builds: each `@ts-expect-error` below must be an error,
// or the build fails), and argument schemas are checked by the executor
// before the function runs, end to end over real NATS, a router, an executor
// with worker threads and a KVS shard.

import t from 'tap';
import type { Cb } from '../lib/function_api.js';
import { InvalidArgument, MalformedMessage } from '../lib/errors.js';
import { defineFunction, type FunctionArgs, type FunctionResult } from '../lib/typed_functions.js';
import { Type } from 'typebox';
import { ref } from '../lib/reference.js';
import { functionKey } from '../lib/function_record.js';
import { LWWPair } from '../lib/lattice/index.js';
import { startCluster } from './fixtures/cluster.js';

const sum = async (_cb: Cb, a: number, b: number): Promise<number> => a + b;
const shout = (_cb: Cb, s: string): string => s.toUpperCase();

// A definition with a schema: the parameters' types come from the schemas.
const greet = defineFunction('greet', { args: [Type.String({ minLength: 1 }), Type.Optional(Type.Integer({ minimum: 1 }))] }, async (cb: Cb, who, times) => {
  await cb.put(`greeted/${who}`, true);
  return `hello ${who}`.repeat(times ?? 1);
});

/** Compile-time checks only: never called. */
export function typeChecks(client: import('../lib/client/cloudburst.js').Cloudburst): void {
  const s = client.fn<typeof sum>('sum');
  const n: Promise<number> = s(1, 2);
  void n;
  void s(ref('a'), 2);
  // @ts-expect-error a string where sum takes a number
  void s('1', 2);
  // @ts-expect-error sum takes two arguments
  void s(1);
  // @ts-expect-error the result is a number
  const wrong: Promise<string> = s(1, 2);
  void wrong;
  const g = client.fn(greet);
  const r: Promise<string> = g('ada', 2);
  void r;
  // @ts-expect-error the schema says a string
  void g(3);
  const d = client.dag<{ sum: typeof sum; shout: typeof shout }, 'shout'>('pipe');
  const dr: Promise<string> = d({ sum: [1, 2], shout: [] });
  void dr;
  void d({ sum: [1] });
  // @ts-expect-error shout's argument is a string
  void d({ shout: [1] });
  // @ts-expect-error the sink's result is a string
  const dn: Promise<number> = d();
  void dn;
  const args: FunctionArgs<typeof sum> = [1, 2];
  const res: FunctionResult<typeof shout> = 'X';
  void args;
  void res;
}

t.test('a typed handle calls the registered function and returns its result', async (t) => {
  const { client } = await startCluster(t);
  await client.register('sum', sum);
  const call = client.fn<typeof sum>('sum');
  t.equal(call.functionName, 'sum');
  t.equal(await call(2, 3), 5);
  await client.put('five', 5);
  t.equal(await call(ref('five'), 1), 6, 'a reference in place of an argument is resolved by the executor');
  await client.register('shout', shout);
  await client.registerDag('pipe', ['sum', 'shout'], [['sum', 'shout']]);
  // shout gets sum's result (a number): the types say string, the executor does not check without a schema.
  const pipe = client.dag<{ sum: typeof sum; shout: typeof shout }, 'shout'>('pipe');
  await t.rejects(pipe({ sum: [1, 2] }), { code: 'EXECUTION_ERROR' }, 'types alone check nothing at run time');
});

t.test('an argument schema is checked by the executor before the function runs', async (t) => {
  const { client } = await startCluster(t);
  const record = await client.register(greet);
  t.same(record.argsSchema, JSON.parse(JSON.stringify(greet.argsSchema)), 'the schema is stored as plain JSON with the code');
  const call = client.fn(greet);
  t.equal(await call('ada'), 'hello ada');
  t.equal(await call('bob', 2), 'hello bobhello bob');

  const refused = async (args: unknown[], says: RegExp): Promise<void> => {
    const err = await client.call('greet', args).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof InvalidArgument, `${JSON.stringify(args)} refused with InvalidArgument`);
    t.match((err as Error).message, says);
    t.match((err as InvalidArgument).data, { name: 'greet', errors: [{ path: String, message: String }] });
  };
  await refused([''], /args\[0\] .*fewer than 1 characters.*it was not run/);
  await refused([7], /args\[0\] must be string/);
  await refused(['eve', 1.5], /args\[1\] must be integer/);
  await refused(['eve', 1, 'extra'], /args\[2\]/);
  await refused([], /arguments of function "greet" do not match/);
  t.equal(await client.get('greeted/eve'), undefined, 'no refused call ran the function');
  t.equal(await client.get('greeted/ada'), true);

  // The control: the same function without its schema runs on the same bad arguments.
  await client.register('greet', greet.fn);
  t.equal(await client.call('greet', [7]), 'hello 7', 'without the schema the function runs');
  t.equal(await client.get('greeted/7'), true);
});

t.test('a referenced argument is checked as the value it stands for; a DAG function\'s schema covers upstream results', async (t) => {
  const { client } = await startCluster(t);
  await client.register(defineFunction('double', { args: [Type.Number()] }, (_cb: Cb, x) => x * 2));
  await client.put('num', 4);
  await client.put('text', 'four');
  t.equal(await client.call('double', [ref('num')]), 8);
  await t.rejects(client.call('double', [ref('text')]), InvalidArgument, 'the referenced value is what is checked');
  await client.register(defineFunction('label', { args: [Type.String(), Type.Number()] }, (_cb: Cb, prefix, x) => `${prefix}${x}`));
  await client.registerDag('doubled', ['double', 'label'], [['double', 'label']]);
  t.equal(await client.callDag('doubled', { double: [5], label: ['x='] }), 'x=10');
  await t.rejects(client.callDag('doubled', { double: ['5'], label: ['x='] }), InvalidArgument, 'a stage with bad arguments fails the DAG call');
});

t.test('schemas that cannot be stored or checked are refused at registration', async (t) => {
  const { client } = await startCluster(t);
  await t.rejects(client.register('f', sum, { argsSchema: [Type.Number()] }), { name: 'InvalidArgument', message: /JSON Schema object/ });
  await t.rejects(client.register('f', sum, { argsSchema: 'number' }), { name: 'InvalidArgument' });
  const cyclic: Record<string, unknown> = { type: 'array' };
  cyclic['self'] = cyclic;
  await t.rejects(client.register('f', sum, { argsSchema: cyclic }), { name: 'InvalidArgument' });
  await t.rejects(client.register('f', sum, { argsSchema: { type: 'array', description: 'x'.repeat(70_000) } }), { name: 'InvalidArgument', message: /above the limit/ });
  await t.rejects(client.call('f', [1, 2]), { code: 'FUNCTION_NOT_FOUND' }, 'nothing was stored');
  // A plain JSON Schema works as well as typebox's.
  await client.register('f', sum, { argsSchema: { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 } });
  t.equal(await client.call('f', [1, 2]), 3);
  await t.rejects(client.call('f', [1, 'x']), InvalidArgument);
});

t.test('a damaged schema stored past the SDK fails calls as MalformedMessage, not as a crash', async (t) => {
  const { client } = await startCluster(t);
  const record = await client.register('sum', sum);
  // Straight to the KVS, as a foreign client could.
  await client['kvs'].put(functionKey('sum'), LWWPair.now({ ...record, argsSchema: 'not a schema' }, 'test'));
  await t.rejects(client.call('sum', [1, 2]), MalformedMessage);
});
