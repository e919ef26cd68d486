// The NATS echo responder of the baseline, run as its own process so the
// baseline, like a real call, crosses processes and does not share the bench's
// event loop. Usage: node echo_server.js <nats-url> <subject>. Says "ready" on
// stdout once subscribed; exits when its stdin closes, which happens when the
// parent ends it or dies, so it never outlives the bench.

import { connect } from '@nats-io/transport-node';

const [url, subject] = process.argv.slice(2);
if (!url || !subject) {
  process.stderr.write('usage: echo_server <nats-url> <subject>\n');
  process.exit(2);
}

// No reconnecting: if NATS goes away the bench is over, and a responder
// retrying in the background would only keep this process alive.
const nc = await connect({ servers: url, name: 'cloudburst-bench-echo', maxReconnectAttempts: 0 });
nc.subscribe(subject, {
  callback: (err, m) => {
    // The payload is a view into the connection's read buffer, which the next
    // read may reuse before the reply is written out: send a copy.
    if (!err) m.respond(m.data.slice());
  },
});
await nc.flush();

let exiting = false;
const exit = (): void => {
  if (exiting) return;
  exiting = true;
  void nc.close().finally(() => process.exit(0));
};
process.stdin.on('end', exit);
process.stdin.on('close', exit);
process.stdin.resume();
void nc.closed().then(exit);
process.stdout.write('ready\n');
