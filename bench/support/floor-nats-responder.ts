// The floor under the NATS figures: bare request/reply, a process of its own answering every
// request on a subject with the verifier's answer for a valid key and doing nothing else.
// Usage: floor-nats-responder <nats url> <subject>; prints "ready".
import { connect } from '@nats-io/transport-node';
import { FLOOR_ANSWER } from './floor-answer.js';

const [url, subject] = process.argv.slice(2) as [string, string];
const answer = JSON.stringify(FLOOR_ANSWER);
const nc = await connect({ servers: url, name: 'bench-floor' });
nc.subscribe(subject, {
  callback: (_error, message) => {
    message.respond(answer);
  },
});
await nc.flush();
process.stdout.write('ready\n');
