// `cloudburst nats-config`: the nats-server users of a cluster with roles
// (lib/roles.ts), for a NATS you run yourself; `cloudburst up --secure` does
// the same for its private one.

import type { CommandModule } from 'yargs';
import { COMMON_DEFAULTS } from '../../lib/config.js';
import { ROLES } from '../../lib/roles.js';
import { ROLES_CONFIG_FILE, passFileName, writeRolesConfig } from '../nats_roles_config.js';

interface NatsConfigArgs {
  prefix: string;
  out: string;
  force: boolean;
}

export const natsConfigCommand: CommandModule<object, NatsConfigArgs> = {
  command: 'nats-config',
  describe:
    `write a nats-server authorization block with one user per role (${ROLES.join(', ')}), each allowed only the subjects ` +
    `it needs, into DIR/${ROLES_CONFIG_FILE}, and each role's random password into DIR/ROLE.pass (mode 0600). ` +
    `Run nats-server -c DIR/${ROLES_CONFIG_FILE} (or include it in your config); start each node with ` +
    `--nats-user ROLE --nats-pass-file DIR/ROLE.pass, applications as client, operators as admin. See docs/security.md, "Roles"`,
  builder: (y) =>
    y
      .option('prefix', { type: 'string', default: COMMON_DEFAULTS.prefix, describe: 'subject prefix of the cluster the users are for' })
      .option('out', { type: 'string', demandOption: true, describe: 'directory to write into (created if missing, mode 0700)' })
      .option('force', { type: 'boolean', default: false, describe: 'replace files already there (every role gets a new password)' })
      .example(`$0 nats-config --out secrets`, `then: nats-server -c secrets/${ROLES_CONFIG_FILE}; cloudburst kvs --nats-user kvs --nats-pass-file secrets/${passFileName('kvs')} ...`),
  // A promise, so a refusal reaches the CLI's error handler as a typed error like every other command's.
  handler: (a) =>
    Promise.resolve().then(() => {
      const written = writeRolesConfig(a.out, a.prefix, { force: a.force });
      process.stdout.write(`${written.config}\n`);
      for (const role of ROLES) process.stdout.write(`${written.passFiles[role]}\n`);
    }),
};
