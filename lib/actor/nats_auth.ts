// How a node or client proves who it is to NATS (user and password, token,
// NKey seed or creds file) and whether it insists on TLS, as plain data: a
// config holds it, `cloudburst up` hands it to its child processes through
// their environment (never their argv, which `ps` shows), and this module
// turns it into nats.js connection options. Secrets never appear in an error
// message or a log line.

import { readFileSync } from 'node:fs';
import { credsAuthenticator, nkeyAuthenticator, nkeys, tokenAuthenticator, usernamePasswordAuthenticator, type ConnectionOptions } from '@nats-io/transport-node';
import { InvalidArgument } from '../errors.js';

export interface NatsTls {
  /** CA certificate(s) to verify the server with (PEM); default: the system's. */
  caFile?: string;
  /** Client certificate (PEM), for servers that verify clients. */
  certFile?: string;
  /** Private key of the client certificate (PEM). */
  keyFile?: string;
}

export interface NatsAuth {
  user?: string;
  pass?: string;
  token?: string;
  /** NKey seed of the user (`SU...`). */
  nkeySeed?: string;
  /** Path of a creds file (user JWT and seed, as `nsc` writes it); read again at every reconnect, so it can be rotated. */
  credsFile?: string;
  /** Connect only over TLS (an empty object: TLS, verified with the system's CAs). */
  tls?: NatsTls;
}

/** The environment variables a NatsAuth is read from (and handed to child processes in). */
export const NATS_AUTH_ENV = {
  user: 'CLOUDBURST_NATS_USER',
  pass: 'CLOUDBURST_NATS_PASS',
  token: 'CLOUDBURST_NATS_TOKEN',
  nkeySeed: 'CLOUDBURST_NATS_NKEY',
  credsFile: 'CLOUDBURST_NATS_CREDS',
} as const satisfies Record<Exclude<keyof NatsAuth, 'tls'>, string>;

export const NATS_TLS_ENV = {
  caFile: 'CLOUDBURST_NATS_TLS_CA',
  certFile: 'CLOUDBURST_NATS_TLS_CERT',
  keyFile: 'CLOUDBURST_NATS_TLS_KEY',
} as const satisfies Record<keyof NatsTls, string>;

/** Set to `1` (or `true`): connect only over TLS. Any NATS_TLS_ENV file implies it. */
export const NATS_TLS_REQUIRED_ENV = 'CLOUDBURST_NATS_TLS';

const ALL_ENV = [...Object.values(NATS_AUTH_ENV), ...Object.values(NATS_TLS_ENV), NATS_TLS_REQUIRED_ENV];

/** Credentials and TLS settings from the environment (empty when none is set). */
export function natsAuthFromEnv(env: NodeJS.ProcessEnv = process.env): NatsAuth {
  const auth: NatsAuth = {};
  for (const [field, name] of Object.entries(NATS_AUTH_ENV) as [keyof typeof NATS_AUTH_ENV, string][]) {
    const value = env[name];
    if (value) auth[field] = value;
  }
  const tls: NatsTls = {};
  for (const [field, name] of Object.entries(NATS_TLS_ENV) as [keyof NatsTls, string][]) {
    const value = env[name];
    if (value) tls[field] = value;
  }
  if (Object.keys(tls).length > 0 || ['1', 'true'].includes(env[NATS_TLS_REQUIRED_ENV] ?? '')) auth.tls = tls;
  return auth;
}

/**
 * `env` with its NATS settings replaced by `auth`'s: the environment of a child
 * process that must connect as this one does, whatever the parent's own
 * environment said.
 */
export function envWithNatsAuth(auth: NatsAuth, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(env).filter(([name]) => !ALL_ENV.includes(name)));
  for (const [field, name] of Object.entries(NATS_AUTH_ENV) as [keyof typeof NATS_AUTH_ENV, string][]) {
    if (auth[field] !== undefined) out[name] = auth[field];
  }
  if (auth.tls) {
    out[NATS_TLS_REQUIRED_ENV] = '1';
    for (const [field, name] of Object.entries(NATS_TLS_ENV) as [keyof NatsTls, string][]) {
      if (auth.tls[field] !== undefined) out[name] = auth.tls[field];
    }
  }
  return out;
}

/** A secret kept in a file: its text without the trailing newline editors add. */
export function readSecretFile(path: string, what: string): string {
  const secret = readFileNamed(path, what).toString('utf8').replace(/\r?\n$/, '');
  if (!secret) throw new InvalidArgument(`the ${what} file ${path} is empty`);
  return secret;
}

function readFileNamed(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new InvalidArgument(`cannot read the ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

/** Whether `auth` names a way to authenticate (TLS settings alone do not). */
export function hasCredentials(auth: NatsAuth = {}): boolean {
  return (['user', 'token', 'nkeySeed', 'credsFile'] as const).some((field) => auth[field] !== undefined);
}

/** How `auth` authenticates, for messages: never a secret. */
export function describeNatsAuth(auth: NatsAuth = {}): string {
  if (auth.user !== undefined) return `user "${auth.user}"`;
  if (auth.token !== undefined) return 'a token';
  if (auth.nkeySeed !== undefined) return 'an NKey';
  if (auth.credsFile !== undefined) return `the creds file ${auth.credsFile}`;
  return 'no credentials';
}

/** nats.js connection options that authenticate as `auth` says. */
export function natsAuthOptions(auth: NatsAuth = {}): Partial<ConnectionOptions> {
  const ways = (['user', 'token', 'nkeySeed', 'credsFile'] as const).filter((field) => auth[field] !== undefined);
  if (ways.length > 1) {
    throw new InvalidArgument(`give one way to authenticate to NATS, not several (${ways.map((w) => NATS_AUTH_ENV[w]).join(', ')} are all set)`);
  }
  if (auth.pass !== undefined && auth.user === undefined) throw new InvalidArgument('a NATS password needs a user name');
  const opts: Partial<ConnectionOptions> = {};
  if (auth.user !== undefined) opts.authenticator = usernamePasswordAuthenticator(auth.user, auth.pass);
  if (auth.token !== undefined) opts.authenticator = tokenAuthenticator(auth.token);
  if (auth.nkeySeed !== undefined) opts.authenticator = nkeyAuthenticator(nkeySeed(auth.nkeySeed));
  if (auth.credsFile !== undefined) {
    const path = auth.credsFile;
    // Read now so a missing file is a clear error, and again at each connect.
    readFileNamed(path, 'NATS creds');
    opts.authenticator = credsAuthenticator(() => readFileNamed(path, 'NATS creds'));
  }
  if (auth.tls) opts.tls = { ...auth.tls };
  return opts;
}

function nkeySeed(seed: string): Uint8Array {
  const bytes = new TextEncoder().encode(seed.trim());
  try {
    nkeys.fromSeed(bytes);
  } catch {
    // The seed itself stays out of the message.
    throw new InvalidArgument('the NATS NKey seed is not a valid seed (a user seed starts with SU)');
  }
  return bytes;
}
