// The NATS credential and TLS options every command shares. Secrets come from
// files or the environment, never from the command line itself, where `ps`
// and shell history would show them. An option given here wins over its
// environment variable.

import type { Argv, CommandModule } from 'yargs';
import { NATS_AUTH_ENV, NATS_TLS_ENV, NATS_TLS_REQUIRED_ENV, natsAuthFromEnv, readSecretFile, type NatsAuth, type NatsTls } from '../lib/actor/nats_auth.js';

export interface NatsAuthArgs {
  'nats-user'?: string | undefined;
  'nats-pass-file'?: string | undefined;
  'nats-token-file'?: string | undefined;
  'nats-nkey-file'?: string | undefined;
  'nats-creds'?: string | undefined;
  'nats-tls'?: boolean | undefined;
  'nats-tls-ca'?: string | undefined;
  'nats-tls-cert'?: string | undefined;
  'nats-tls-key'?: string | undefined;
}

const GROUP = 'NATS security (see docs/security.md):';

/** The options `withNatsAuth` defines, as `--help` groups them. */
export const NATS_AUTH_OPTIONS = [
  'nats-user',
  'nats-pass-file',
  'nats-token-file',
  'nats-nkey-file',
  'nats-creds',
  'nats-tls',
  'nats-tls-ca',
  'nats-tls-cert',
  'nats-tls-key',
] as const satisfies readonly (keyof NatsAuthArgs)[];

export function withNatsAuth<T>(y: Argv<T>) {
  return y
    .option('nats-user', { type: 'string', describe: `NATS user name (or ${NATS_AUTH_ENV.user}); its password from --nats-pass-file or ${NATS_AUTH_ENV.pass}` })
    .option('nats-pass-file', { type: 'string', describe: `file holding the NATS password (or ${NATS_AUTH_ENV.pass})` })
    .option('nats-token-file', { type: 'string', describe: `file holding the NATS token (or ${NATS_AUTH_ENV.token})` })
    .option('nats-nkey-file', { type: 'string', describe: `file holding the user's NKey seed (or ${NATS_AUTH_ENV.nkeySeed}, the seed itself)` })
    .option('nats-creds', { type: 'string', describe: `NATS creds file: user JWT and seed (or ${NATS_AUTH_ENV.credsFile}, its path)` })
    .option('nats-tls', { type: 'boolean', describe: `connect only over TLS (or ${NATS_TLS_REQUIRED_ENV}=1; implied by the files below)` })
    .option('nats-tls-ca', { type: 'string', describe: `CA certificate to verify the server with, PEM (or ${NATS_TLS_ENV.caFile}; default: the system's CAs)` })
    .option('nats-tls-cert', { type: 'string', describe: `client certificate, PEM (or ${NATS_TLS_ENV.certFile})` })
    .option('nats-tls-key', { type: 'string', describe: `key of the client certificate, PEM (or ${NATS_TLS_ENV.keyFile})` });
}

/**
 * `cmd` with its NATS security options listed after its own in `--help`.
 * yargs lists groups in the order they are first named (its default
 * "Options:" only when the help is drawn), and these options are defined
 * before a command's own; so the headings come first and this group is named
 * only once the command's builder has defined everything else, and nine
 * rarely needed flags no longer stand between a newcomer and `--nats`.
 */
export function natsAuthListedLast<U>(cmd: CommandModule<object, U>): CommandModule<object, U> {
  const { builder } = cmd;
  if (typeof builder !== 'function') return cmd;
  const build = builder as (y: Argv) => Argv<U>;
  // yargs' own headings (its English ones), named first so they keep their place ahead of this group.
  const headed = (y: Argv): Argv => y.group([], 'Positionals:').group([], 'Options:');
  return { ...cmd, builder: (y: Argv) => build(headed(y)).group([...NATS_AUTH_OPTIONS], GROUP) };
}

/** The credentials and TLS settings the options and the environment name. */
export function natsAuthFromArgs(a: NatsAuthArgs, env: NodeJS.ProcessEnv = process.env): NatsAuth {
  const auth = natsAuthFromEnv(env);
  if (a['nats-user'] !== undefined) auth.user = a['nats-user'];
  if (a['nats-pass-file'] !== undefined) auth.pass = readSecretFile(a['nats-pass-file'], 'NATS password');
  if (a['nats-token-file'] !== undefined) auth.token = readSecretFile(a['nats-token-file'], 'NATS token');
  if (a['nats-nkey-file'] !== undefined) auth.nkeySeed = readSecretFile(a['nats-nkey-file'], 'NATS NKey seed');
  if (a['nats-creds'] !== undefined) auth.credsFile = a['nats-creds'];
  const files: NatsTls = {
    ...(a['nats-tls-ca'] === undefined ? {} : { caFile: a['nats-tls-ca'] }),
    ...(a['nats-tls-cert'] === undefined ? {} : { certFile: a['nats-tls-cert'] }),
    ...(a['nats-tls-key'] === undefined ? {} : { keyFile: a['nats-tls-key'] }),
  };
  if (a['nats-tls'] || Object.keys(files).length > 0) auth.tls = { ...auth.tls, ...files };
  return auth;
}
