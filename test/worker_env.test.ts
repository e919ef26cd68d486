// Functions cannot read the NATS credentials their executor connected with:
// worker threads start with the environment minus CLOUDBURST_NATS_*, or with
// only what an allow list names (actors/executor/worker_env.ts). Real NATS,
// router, executor and worker threads; the executor's own environment holds
// a credential variable, as one started with it would.

import t from 'tap';
import type { Cb } from '../lib/function_api.js';
import { dropSecrets, workerEnv } from '../actors/executor/worker_env.js';
import { startCluster } from './fixtures/cluster.js';

const SECRET = 'CLOUDBURST_NATS_PASS';

t.before(() => {
  process.env[SECRET] = 'hunter2';
  process.env['CB_VISIBLE'] = 'yes';
});
t.teardown(() => {
  delete process.env[SECRET];
  delete process.env['CB_VISIBLE'];
});

const peek = async (_cb: Cb): Promise<Record<string, string | null>> => ({
  secret: process.env['CLOUDBURST_NATS_PASS'] ?? null,
  visible: process.env['CB_VISIBLE'] ?? null,
});

t.test('a function does not see CLOUDBURST_NATS_* by default; it sees the rest', async (t) => {
  const { client } = await startCluster(t);
  await client.register('peek', peek);
  t.same(await client.call('peek'), { secret: null, visible: 'yes' });
});

t.test('with an allow list, a function sees only what it names (the control: naming the secret shows it)', async (t) => {
  const { client } = await startCluster(t, { executor: { workerEnv: [SECRET] } });
  await client.register('peek', peek);
  t.same(await client.call('peek'), { secret: 'hunter2', visible: null });
});

t.test('workerEnv and dropSecrets', async (t) => {
  const env = { PATH: '/bin', CLOUDBURST_NATS_TOKEN: 't', CLOUDBURST_NATS_CREDS: '/x', OTHER: 'o' };
  t.same(workerEnv(env), { PATH: '/bin', OTHER: 'o' });
  t.same(workerEnv(env, ['OTHER', 'MISSING']), { OTHER: 'o' });
  const copy: NodeJS.ProcessEnv = { ...env };
  dropSecrets(copy);
  t.same(copy, { PATH: '/bin', OTHER: 'o' });
});
