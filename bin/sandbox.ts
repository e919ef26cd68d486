// `cloudburst executor --sandbox`: the executor runs under Node's permission
// model, which a process can only start with, so the command runs itself
// again as a child (tied to this process: it dies with it) with
//   --experimental-permission   no file writes, no child processes, no
//                               reads but those allowed below
//   --allow-fs-read             this package and the node_modules it loads
//                               from (functions may import what the executor
//                               has), and the credential files it was given
//   --allow-worker              worker threads, which inherit the same limits
// The child is given the cluster's address and the credentials explicitly
// (credentials in its environment, never its argv), since it may read no
// cluster file. Network access is not limited (Node 20's model has no such
// permission). docs/security.md says what this does and does not stop.

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envWithNatsAuth, type NatsAuth } from '../lib/actor/nats_auth.js';
import { spawnTied } from './child_process.js';

/** Running under the permission model already (the sandboxed child). */
export function inSandbox(): boolean {
  return (process as { permission?: unknown }).permission !== undefined;
}

/** Flags whose values the child gets another way (address given explicitly, credentials in its environment). */
const REPLACED = ['--nats', '--prefix', '--nats-user', '--nats-pass-file', '--nats-token-file', '--nats-nkey-file', '--nats-creds', '--nats-tls', '--nats-tls-ca', '--nats-tls-cert', '--nats-tls-key'];
/** Of those, the ones that take no value. */
const FLAGS_WITHOUT_VALUE = new Set(['--nats-tls']);

/** `argv` without the replaced flags (both `--flag value` and `--flag=value`). */
export function withoutReplaced(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = arg.split('=')[0]!;
    if (!REPLACED.includes(name)) out.push(arg);
    else if (!arg.includes('=') && !FLAGS_WITHOUT_VALUE.has(name)) i++;
  }
  return out;
}

/** What the sandboxed executor may read: the package, the node_modules its dependencies load from, the credential files. */
export function readableFor(auth: NatsAuth | undefined): string[] {
  const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
  // Where piscina resolves from is where every dependency lies (one flat node_modules).
  const modules = dirname(dirname(fileURLToPath(import.meta.resolve('piscina'))));
  const files = [auth?.credsFile, auth?.tls?.caFile, auth?.tls?.certFile, auth?.tls?.keyFile].filter((f): f is string => f !== undefined);
  return [join(packageRoot, '*'), join(nodeModulesOf(modules), '*'), ...files];
}

function nodeModulesOf(path: string): string {
  const at = path.lastIndexOf(`${'/'}node_modules${'/'}`);
  return at < 0 ? path : path.slice(0, at + '/node_modules'.length);
}

/** Runs this command again, sandboxed; exits with the child's code. Signals to this process go to the child. */
export function runSandboxed(address: { servers: string | string[]; prefix: string }, auth: NatsAuth | undefined): void {
  const servers = Array.isArray(address.servers) ? address.servers.join(',') : address.servers;
  const args = [
    '--experimental-permission',
    ...readableFor(auth).map((path) => `--allow-fs-read=${path}`),
    '--allow-worker',
    // The permission model's warnings are ours to explain, in docs/security.md.
    '--no-warnings',
    process.argv[1]!,
    ...withoutReplaced(process.argv.slice(2)),
    '--nats',
    servers,
    '--prefix',
    address.prefix,
  ];
  const child = spawnTied(process.execPath, args, { stdio: 'inherit', env: auth ? envWithNatsAuth(auth) : process.env });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
