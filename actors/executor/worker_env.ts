// The environment worker threads (user functions) start with. A worker
// thread shares its process's environment unless told otherwise, and a
// function could then read the NATS credentials the executor connected
// with (CLOUDBURST_NATS_*). So workers get a copy without them, or, given
// an allow list (`--worker-env`), only the variables it names.
//
// Not stopped by this (docs/security.md): a function can still read
// /proc/self/environ (the process's environment as it started), the files
// the credentials came from, and the executor's command line. Only the
// permission model (`--sandbox`, not yet built) closes those.

/** Variables that hold or point to NATS credentials. */
export const SECRET_PREFIX = 'CLOUDBURST_NATS_';

export function workerEnv(env: NodeJS.ProcessEnv, allow?: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const allowed = allow === undefined ? undefined : new Set(allow);
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (allowed ? allowed.has(name) : !name.startsWith(SECRET_PREFIX)) out[name] = value;
  }
  return out;
}

/** Removes the credentials from this process's environment, once the node has connected with them. */
export function dropSecrets(env: NodeJS.ProcessEnv = process.env): void {
  for (const name of Object.keys(env)) if (name.startsWith(SECRET_PREFIX)) delete env[name];
}
