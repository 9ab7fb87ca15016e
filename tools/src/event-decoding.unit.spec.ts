import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function sourcesUnder(directory: string): string[] {
  return readdirSync(path.join(root, directory), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(directory, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'dist' ? [] : sourcesUnder(relative);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [relative] : [];
  });
}

// A message from NATS is data from a stranger until its seal is checked: the bus's one
// decode-and-verify (EventMessageReader) is the only code that parses an event message, so
// no consumer can hold an EventEnvelope made from bytes that skipped the check.
describe('event decoding', () => {
  const files = ['libs', 'services', 'apps', 'bench', 'test'].flatMap(sourcesUnder);

  it('parses event messages in one place only: the bus reader', () => {
    const parsing = files.filter((file) => /\beventMessageSchema\b/.test(readFileSync(path.join(root, file), 'utf8')));
    expect(parsing.sort()).toEqual(['libs/contracts/src/event-envelope.ts', 'libs/event-bus/src/event-message.ts']);
  });

  it('leaves no other way to an envelope from bytes: the envelope schema without the seal is not exported', () => {
    expect(readFileSync(path.join(root, 'libs/contracts/src/event-envelope.ts'), 'utf8')).not.toMatch(/export const eventEnvelopeSchema/);
    const decoders = files.filter((file) => /\bdecodeEventMessage\b/.test(readFileSync(path.join(root, file), 'utf8')));
    expect(decoders).toEqual([]);
  });

  // The same for usage batches: the auditor and the anomaly detector believe what they read, so
  // only the reader that checks a batch's seal first turns a message into a batch. Tests and
  // benchmarks may build batches from objects; the code that runs may not parse them elsewhere.
  it('parses usage batches in one place only: the usage batch reader', () => {
    const running = files.filter((file) => !/\.spec\.ts$/.test(file) && !file.startsWith('bench/') && !file.startsWith('test/'));
    const parsing = running.filter((file) => /\busageBatch(V[12])?Schema\.(safe)?[pP]arse/.test(readFileSync(path.join(root, file), 'utf8')));
    expect(parsing).toEqual(['libs/usage-ledger/src/usage-batch-reader.ts']);
  });
});
