#!/usr/bin/env node
// The `cloudburst` command line.

import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { CloudburstError } from '../lib/errors.js';
import { callCommand, deleteCommand, getCommand, putCommand, registerCommand, replicationCommand } from './commands/client.js';
import { statusCommand } from './commands/status.js';
import { demoCommand } from './commands/demo.js';
import { executorCommand, kvsCommand, routerCommand } from './commands/nodes.js';
import { upCommand } from './commands/up.js';
import { gatewayCommand } from './commands/gateway.js';
import { natsConfigCommand } from './commands/nats_config.js';
import { FINDING_THE_CLUSTER } from './options.js';
import { natsAuthListedLast } from './nats_auth_options.js';

await yargs(hideBin(process.argv))
  .scriptName('cloudburst')
  .usage('$0 <command> [options]')
  .command(natsAuthListedLast(upCommand))
  .command(natsAuthListedLast(kvsCommand))
  .command(natsAuthListedLast(executorCommand))
  .command(natsAuthListedLast(routerCommand))
  .command(natsAuthListedLast(registerCommand))
  .command(natsAuthListedLast(callCommand))
  .command(natsAuthListedLast(getCommand))
  .command(natsAuthListedLast(putCommand))
  .command(natsAuthListedLast(deleteCommand))
  .command(natsAuthListedLast(replicationCommand))
  .command(natsAuthListedLast(statusCommand))
  .command(natsAuthListedLast(gatewayCommand))
  .command(natsConfigCommand)
  .command(demoCommand)
  .demandCommand(1, 'name a command (see --help)')
  .epilogue(`Start a cluster with \`cloudburst up\` and run the other commands from the same directory. ${FINDING_THE_CLUSTER}`)
  .strict()
  .fail((msg, err, y) => {
    if (err) {
      const code = err instanceof CloudburstError ? `${err.code}: ` : '';
      process.stderr.write(`cloudburst: ${code}${err.message}\n`);
    } else {
      y.showHelp();
      process.stderr.write(`\ncloudburst: ${msg}\n`);
    }
    process.exit(1);
  })
  .help()
  .parseAsync();
