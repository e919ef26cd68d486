// Security as a deployment relies on it: a cluster on a NATS that requires
// credentials serves clients that have them (user/password, NKey, token,
// creds file, TLS client certificates) and nobody else; secrets reach child
// processes without showing in their argv or any log line; tenants in other
// NATS accounts see nothing; and oversized code or arguments are refused
// with typed errors before they cost the cluster anything.

import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createAccount, createOperator, createUser, encodeAccount, encodeOperator, encodeUser, fmtCreds } from '@nats-io/jwt';
import { nkeys } from '@nats-io/transport-node';
import t, { type Test } from 'tap';
import { envWithNatsAuth, natsAuthOptions, type NatsAuth } from '../lib/actor/nats_auth.js';
import { NatsTransport } from '../lib/actor/nats_transport.js';
import { Cloudburst } from '../lib/client/cloudburst.js';
import { KvsClient } from '../lib/client/kvs_client.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../lib/config.js';
import { FunctionNotFound, InvalidArgument, NoCapacity, PayloadTooLarge, Unauthorized, Unavailable } from '../lib/errors.js';
import { MAX_FUNCTION_CODE_BYTES, functionKey } from '../lib/function_record.js';
import type { Cb } from '../lib/function_api.js';
import { LWWPair } from '../lib/lattice/index.js';
import { subjectsFor } from '../lib/subjects.js';
import { CliProcess, cliWithEnv } from './fixtures/cli.js';
import { startCluster, startShard } from './fixtures/cluster.js';
import { eventually } from './fixtures/eventually.js';
import { failure } from './fixtures/failure.js';
import { startNats } from './fixtures/nats.js';

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cb-security-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A nats-server of this test run with `config` (nats-server's config syntax). */
async function natsWithConfig(t: Test, dir: string, config: string) {
  const file = join(dir, 'nats-server.conf');
  await writeFile(file, config);
  return startNats(t, { args: ['-c', file] });
}

const secret = (): string => randomBytes(12).toString('hex');

/** This process's environment without any NATS credentials in it. */
const bareEnv = envWithNatsAuth({});

/** Connects, puts, reads back and closes: what every credential kind must allow. */
async function putAndGet(t: Test, url: string, auth: NatsAuth, what: string): Promise<void> {
  const client = await Cloudburst.connect({ servers: url, auth, timeoutMs: 10_000 });
  try {
    await client.put('probe', what);
    t.equal(await client.get('probe'), what, `${what}: a client with them puts and gets`);
  } finally {
    await client.close();
  }
}

t.test('a cluster on a NATS that requires credentials serves its own tenant and nobody else', async (t) => {
  const dir = await tempDir(t);
  const pw = { node: secret(), alice: secret(), bob: secret() };
  const nkey = nkeys.createUser();
  const seed = new TextDecoder().decode(nkey.getSeed());
  // Tenant A runs the cluster; tenant B shares the server but not the account.
  const nats = await natsWithConfig(
    t,
    dir,
    `accounts {
      TENANT_A: { users: [ { user: node, password: "${pw.node}" }, { user: alice, password: "${pw.alice}" }, { nkey: ${nkey.getPublicKey()} } ] }
      TENANT_B: { users: [ { user: bob, password: "${pw.bob}" } ] }
    }\n`,
  );
  const passFile = join(dir, 'node.pass');
  await writeFile(passFile, `${pw.node}\n`);

  // The password is in a file; the children `up` spawns get it in their environment.
  const up = new CliProcess(['up', '--nats', nats.url, '--nats-user', 'node', '--nats-pass-file', passFile, '--threads', '1', '--log-level', 'debug'], bareEnv);
  t.teardown(async () => {
    if (up.child.exitCode === null && up.child.signalCode === null) {
      up.interrupt();
      await up.exited();
    }
  });
  await up.waitFor(/cluster ready/);
  const pids = up.lines.flatMap((l) => [...l.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1])));
  t.equal(pids.length, 3, 'a shard, an executor and a router came up on the credentials');
  for (const pid of pids) {
    const argv = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    t.notOk(argv.includes(pw.node), `the password is not in the argv of child ${pid}`);
  }

  const alice = await Cloudburst.connect({ servers: nats.url, auth: { user: 'alice', pass: pw.alice }, timeoutMs: 10_000 });
  t.teardown(() => alice.close());
  await alice.register('greet', async (cb: Cb, who: string) => {
    await cb.put('greeting', `hello ${who}`);
    return `hello ${who}`;
  });
  t.equal(await alice.call('greet', ['alice']), 'hello alice', 'an authenticated client registers and calls a function');
  t.equal(await alice.get('greeting'), 'hello alice', 'and reads what it wrote');
  await alice.put('plans', 'tenant A only');

  const byNkey = await Cloudburst.connect({ servers: nats.url, auth: { nkeySeed: seed }, timeoutMs: 10_000 });
  t.teardown(() => byNkey.close());
  t.equal(await byNkey.get('plans'), 'tenant A only', 'a client with an NKey seed reads it too');

  const fromEnv = await cliWithEnv({ ...bareEnv, CLOUDBURST_NATS_USER: 'alice', CLOUDBURST_NATS_PASS: pw.alice }, 'get', 'plans', '--nats', nats.url);
  t.equal(fromEnv.stdout.trim(), '"tenant A only"', 'the CLI takes credentials from the environment');

  const anonymous = await failure(Cloudburst.connect({ servers: nats.url }));
  t.type(anonymous, Unauthorized, 'no credentials: connect fails with Unauthorized');
  t.equal((anonymous as Unauthorized).code, 'UNAUTHORIZED', 'whose code is stable');
  t.match((anonymous as Error).message, /no credentials/, 'saying that none were given');
  const wrong = await failure(Cloudburst.connect({ servers: nats.url, auth: { user: 'alice', pass: 'not-the-password' } }));
  t.type(wrong, Unauthorized, 'a wrong password: Unauthorized');
  t.match((wrong as Error).message, /user "alice"/, 'naming the user');
  t.notMatch((wrong as Error).message, /not-the-password/, 'but never the password');
  const cli = await cliWithEnv(bareEnv, 'get', 'plans', '--nats', nats.url);
  t.equal(cli.code, 1, 'the CLI without credentials fails');
  t.match(cli.stderr, /UNAUTHORIZED/, 'with the error code');
  t.notMatch(cli.stdout, /tenant A/, 'and prints no data');

  const bob = await Cloudburst.connect({ servers: nats.url, auth: { user: 'bob', pass: pw.bob }, timeoutMs: 1500 });
  t.teardown(() => bob.close());
  const read = await failure(bob.get('plans'));
  t.match(read, { code: 'DEADLINE_EXCEEDED', message: /no KVS shard is running/ }, 'another account, same prefix: no shard of tenant A answers a read');
  await t.rejects(bob.call('greet', ['bob']), NoCapacity, 'nor a call');
  t.equal(await alice.get('plans'), 'tenant A only', 'tenant A data is untouched');

  up.interrupt();
  t.equal(await up.exited(), 0, 'the cluster stops cleanly');
  const leaked = up.lines.filter((l) => Object.values(pw).some((p) => l.includes(p)) || l.includes(seed));
  t.same(leaked, [], `no line of ${up.lines.length} logged at debug level holds a secret`);
});

t.test('token: a shard and clients that hold it work; a client without it is Unauthorized', async (t) => {
  const dir = await tempDir(t);
  const token = secret();
  const nats = await natsWithConfig(t, dir, `authorization { token: "${token}" }\n`);
  const shard = await startShard(nats.url, { natsAuth: { token } });
  t.teardown(() => shard.stop());
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, `${token}\n`);
  const put = await cliWithEnv(bareEnv, 'put', 'motd', '"from the CLI"', '--nats', nats.url, '--nats-token-file', tokenFile);
  t.equal(put.stdout.trim(), 'ok', 'the CLI reads the token from --nats-token-file');
  const client = await Cloudburst.connect({ servers: nats.url, auth: { token } });
  t.teardown(() => client.close());
  t.equal(await client.get('motd'), 'from the CLI', 'an SDK client with the token reads it');
  await t.rejects(Cloudburst.connect({ servers: nats.url }), Unauthorized, 'without the token: Unauthorized');
  await t.rejects(Cloudburst.connect({ servers: nats.url, auth: { token: 'wrong' } }), Unauthorized, 'a wrong token: Unauthorized');
});

t.test('creds file (operator JWTs): a shard and a client that hold one work; others are Unauthorized', async (t) => {
  const dir = await tempDir(t);
  const operator = createOperator();
  const account = createAccount();
  const user = createUser();
  const unlimited = { conn: -1, subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, leaf: -1 };
  const accountJwt = await encodeAccount('tenant', account, { limits: unlimited }, { signer: operator });
  const nats = await natsWithConfig(
    t,
    dir,
    `operator: ${await encodeOperator('test-operator', operator)}\nresolver: MEMORY\nresolver_preload: { ${account.getPublicKey()}: ${accountJwt} }\n`,
  );
  const credsFile = join(dir, 'user.creds');
  await writeFile(credsFile, fmtCreds(await encodeUser('cloudburst', user, account, { subs: -1, data: -1, payload: -1 }), user));
  const shard = await startShard(nats.url, { natsAuth: { credsFile } });
  t.teardown(() => shard.stop());
  await putAndGet(t, nats.url, { credsFile }, 'creds file');
  const cli = await cliWithEnv(bareEnv, 'get', 'probe', '--nats', nats.url, '--nats-creds', credsFile);
  t.equal(cli.stdout.trim(), '"creds file"', 'the CLI takes --nats-creds');
  await t.rejects(Cloudburst.connect({ servers: nats.url }), Unauthorized, 'without creds: Unauthorized');
});

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

t.test('TLS with client certificates: verified clients work, others cannot connect', { skip: hasOpenssl ? false : 'openssl is not installed, so no certificates can be made' }, async (t) => {
  const dir = await tempDir(t);
  const f = (name: string): string => join(dir, name);
  const openssl = (...args: string[]) => promisify(execFile)('openssl', args);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=cloudburst-test-ca');
  // nats.js checks a server reached by IP address under the name localhost.
  await writeFile(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const who of ['server', 'client']) {
    await openssl('req', ...ec, '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`), '-subj', `/CN=cloudburst-test-${who}`);
    const ext = who === 'server' ? ['-extfile', f('server.ext')] : [];
    await openssl('x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${who}.pem`), '-days', '1', ...ext);
  }
  const nats = await natsWithConfig(t, dir, `tls { cert_file: "${f('server.pem')}", key_file: "${f('server.key')}", ca_file: "${f('ca.pem')}", verify: true }\n`);
  const tls = { caFile: f('ca.pem'), certFile: f('client.pem'), keyFile: f('client.key') };
  const shard = await startShard(nats.url, { natsAuth: { tls } });
  t.teardown(() => shard.stop());
  await putAndGet(t, nats.url, { tls }, 'mutual TLS');
  const env = { ...bareEnv, CLOUDBURST_NATS_TLS_CA: tls.caFile, CLOUDBURST_NATS_TLS_CERT: tls.certFile, CLOUDBURST_NATS_TLS_KEY: tls.keyFile };
  t.equal((await cliWithEnv(env, 'get', 'probe', '--nats', nats.url)).stdout.trim(), '"mutual TLS"', 'the CLI takes TLS files from the environment');
  const untrusted = await failure(Cloudburst.connect({ servers: nats.url, auth: { tls: { certFile: tls.certFile, keyFile: tls.keyFile } } }));
  t.type(untrusted, Unavailable, 'without the CA the server certificate is not trusted: Unavailable');
  t.match((untrusted as Unavailable).message, new RegExp(`cannot connect to NATS at ${nats.url}: .*verify`), 'naming the server and what failed');
  const plain = await cliWithEnv(bareEnv, 'get', 'probe', '--nats', nats.url);
  t.equal(plain.code, 1, 'a CLI without TLS settings cannot connect');
  t.match(plain.stderr, /^cloudburst: UNAVAILABLE: cannot connect to NATS at /, 'and says so with a typed error');
  t.notMatch(plain.stdout, /mutual TLS/, 'and reads nothing');
});

t.test('credential settings that cannot work are refused before connecting, without echoing secrets', async (t) => {
  const dir = await tempDir(t);
  t.throws(() => natsAuthOptions({ user: 'a', pass: 'b', token: 'c' }), InvalidArgument, 'two ways to authenticate at once');
  t.throws(() => natsAuthOptions({ pass: 'b' }), InvalidArgument, 'a password without a user');
  const badSeed = 'SUnot-a-real-seed';
  const err = await failure(Cloudburst.connect({ servers: 'nats://127.0.0.1:1', auth: { nkeySeed: badSeed } }));
  t.type(err, InvalidArgument, 'a malformed NKey seed');
  t.notMatch((err as Error).message, badSeed, 'whose text stays out of the message');
  const missing = join(dir, 'missing.creds');
  t.throws(() => natsAuthOptions({ credsFile: missing }), { name: 'InvalidArgument', message: new RegExp(`${missing}.*ENOENT`) }, 'a creds file that is not there');
  const cli = await cliWithEnv(bareEnv, 'get', 'k', '--nats-user', 'a', '--nats-pass-file', join(dir, 'nope'));
  t.equal(cli.code, 1);
  t.match(cli.stderr, /INVALID_ARGUMENT: cannot read the NATS password file/, 'the CLI names a password file it cannot read');
});

t.test('function code above MAX_FUNCTION_CODE_BYTES is refused with PayloadTooLarge', async (t) => {
  const { client, nats } = await startCluster(t, { threads: 1 });
  const module = (bytes: number): string => {
    const head = 'export default async () => "ran";\n//';
    return head + 'x'.repeat(bytes - head.length);
  };
  const over = await failure(client.register('huge', module(MAX_FUNCTION_CODE_BYTES + 1)));
  t.type(over, PayloadTooLarge, 'registering code one byte over the limit');
  t.same((over as PayloadTooLarge).data, { size: MAX_FUNCTION_CODE_BYTES + 1, limit: MAX_FUNCTION_CODE_BYTES }, 'naming size and limit');
  await t.rejects(client.call('huge'), FunctionNotFound, 'nothing was registered');
  await client.register('largest', module(MAX_FUNCTION_CODE_BYTES));
  t.equal(await client.call('largest'), 'ran', 'code exactly at the limit registers and runs');

  // A record written past the SDK, straight into the KVS, is refused by the executor.
  const transport = await NatsTransport.connect({ servers: nats.url });
  const kvs = new KvsClient(transport, subjectsFor('cb'));
  t.teardown(async () => {
    kvs.close();
    await transport.close();
  });
  await kvs.put(functionKey('smuggled'), LWWPair.now({ code: module(MAX_FUNCTION_CODE_BYTES + 1), hash: 'x' }, 'test'));
  await t.rejects(client.call('smuggled'), PayloadTooLarge, 'an executor does not load oversized code it finds in the KVS');
});

t.test('call arguments above the message limit are PayloadTooLarge and nothing is sent', async (t) => {
  const { client, nats } = await startCluster(t, { threads: 1 });
  await client.register('echo', async (_cb: Cb, x: unknown) => x);
  // Sees every message to the routers' queue group, in the order it was sent.
  const sniffer = await NatsTransport.connect({ servers: nats.url });
  t.teardown(() => sniffer.close());
  const seen: number[] = [];
  sniffer.subscribe(subjectsFor('cb').sched, (m) => void seen.push(m.data.byteLength));
  await sniffer.flush();
  const over = await failure(client.call('echo', [new Uint8Array(DEFAULT_MAX_MESSAGE_BYTES)]));
  t.type(over, PayloadTooLarge, 'arguments over the limit');
  t.match((over as PayloadTooLarge).data, { limit: DEFAULT_MAX_MESSAGE_BYTES }, 'naming the limit');
  t.equal(await client.call('echo', ['small']), 'small', 'a call after it works');
  // One connection's messages arrive in order: once the small call is seen, an oversized one sent before it would have been too.
  await eventually('the sniffer saw the small call', () => seen.length > 0);
  t.equal(seen.length, 1, 'only the small call reached the routers');
  t.ok(seen[0]! < 1024, 'and it is small');
});
