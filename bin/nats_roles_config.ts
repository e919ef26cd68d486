// Writes what a cluster with roles needs (lib/roles.ts): a nats-server
// authorization block with one user per role, each with a fresh random
// password and its allow lists, and one password file per role that
// `--nats-user ROLE --nats-pass-file DIR/ROLE.pass` reads. Every file holds a
// secret, so every file is readable by its owner only.

import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgument } from '../lib/errors.js';
import { ROLES, permissionsFor, type Role } from '../lib/roles.js';

/** The config file's name in the output directory. */
export const ROLES_CONFIG_FILE = 'nats-roles.conf';

export function passFileName(role: Role): string {
  return `${role}.pass`;
}

export interface RolesConfig {
  dir: string;
  /** Path of the nats-server config. */
  config: string;
  /** Path of each role's password file. */
  passFiles: Record<Role, string>;
  /** Each role's password, for a caller that hands it on without reading the file back. */
  passwords: Record<Role, string>;
}

/** 192 random bits, in characters a nats-server config takes inside quotes. */
function newPassword(): string {
  return randomBytes(24).toString('base64url');
}

const quoted = (s: string): string => JSON.stringify(s);
const list = (subjects: string[]): string => `[${subjects.map(quoted).join(', ')}]`;

/** The authorization block: a whole nats-server config by itself, or `include`d in a larger one. */
export function renderAuthorization(prefix: string, passwords: Record<Role, string>): string {
  const users = ROLES.map((role) => {
    const { publish, subscribe } = permissionsFor(role, prefix);
    return [
      `    {`,
      `      user: ${quoted(role)}`,
      `      password: ${quoted(passwords[role])}`,
      `      permissions: {`,
      `        publish: { allow: ${list(publish)} }`,
      `        subscribe: { allow: ${list(subscribe)} }`,
      `      }`,
      `    }`,
    ].join('\n');
  });
  return (
    `# Written by cloudburst nats-config for subject prefix "${prefix}": one user per role\n` +
    `# (docs/security.md, "Roles"). Holds passwords: keep it readable by nats-server only.\n` +
    `authorization {\n  users = [\n${users.join('\n')}\n  ]\n}\n`
  );
}

/**
 * Writes the config and the password files into `dir` (created, mode 0700,
 * if missing). Refuses to replace existing files unless `force`: new
 * passwords would lock out every node and client that holds the old ones.
 */
export function writeRolesConfig(dir: string, prefix: string, opts: { force?: boolean } = {}): RolesConfig {
  const out = resolve(dir);
  const config = join(out, ROLES_CONFIG_FILE);
  const passFiles = Object.fromEntries(ROLES.map((role) => [role, join(out, passFileName(role))])) as Record<Role, string>;
  const present = [config, ...Object.values(passFiles)].filter((path) => existsSync(path));
  if (present.length > 0 && !opts.force) {
    throw new InvalidArgument(`${present.join(', ')} already exist${present.length === 1 ? 's' : ''}: give --force to replace them (and every password)`);
  }
  const passwords = Object.fromEntries(ROLES.map((role) => [role, newPassword()])) as Record<Role, string>;
  // Rendered first: a bad prefix is refused before anything is written.
  const text = renderAuthorization(prefix, passwords);
  mkdirSync(out, { recursive: true, mode: 0o700 });
  const write = (path: string, content: string): void => {
    writeFileSync(path, content, { mode: 0o600 });
    // An existing file keeps its old mode through writeFileSync.
    chmodSync(path, 0o600);
  };
  for (const role of ROLES) write(passFiles[role], `${passwords[role]}\n`);
  write(config, text);
  return { dir: out, config, passFiles, passwords };
}
