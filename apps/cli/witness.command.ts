import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import type { NoteSigner, NoteVerifierKey, WitnessedCheckpoint } from '@keyledger/transparency-log';
import { secret } from './audit.command.js';
import { collect } from './cli-options.js';
import { CliUsageError, isSystemError } from './nats-credentials.js';
import { reportFailure } from './cli-failure.js';

/** An add-checkpoint body is a few lines and a note: more than this is refused unread. */
const MAX_BODY_BYTES = 64 * 1024;
const LOCAL_WITNESS_KEY = '.keyledger/witness-signing-key';

async function witnessLibraries() {
  return import('@keyledger/transparency-log');
}

/** What the witness remembers: per log origin, the latest checkpoint it cosigned. */
type WitnessState = Record<string, WitnessedCheckpoint>;

async function readState(path: string): Promise<WitnessState> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as WitnessState;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    if (error instanceof SyntaxError) throw new CliUsageError(`the witness state ${path} is not JSON: fix or remove it (removing it forgets every log's size)`);
    throw error;
  }
}

/** Written to a new file, then renamed over the old: a crash leaves one or the other whole. */
async function writeState(path: string, state: WitnessState): Promise<void> {
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, path);
}

function port(value: string): number {
  const number = /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!(number >= 0 && number <= 65535)) throw new InvalidArgumentError('expected a port from 0 to 65535');
  return number;
}

async function readBody(request: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function answer(response: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

/**
 * `keyledger witness`: a transparency log witness (c2sp.org/tlog-witness) for a Keyledger
 * auditor, or any C2SP log: `serve` answers `add-checkpoint`, cosigning (c2sp.org/tlog-cosignature
 * v1) each checkpoint of a log it trusts that extends the last one it cosigned, which it keeps
 * in a state file; `public-key` prints the cosigner key the log and its clients check with.
 */
export function registerWitnessCommand(program: Command): void {
  const group = program.command('witness').description("a witness that cosigns a log's checkpoints once it has checked they extend the last one it saw (c2sp.org/tlog-witness)");
  const signingKey = new Option('--signing-key-file <file>', `a file holding the witness signing key (default: KEYLEDGER_WITNESS_SIGNING_KEY, else ${LOCAL_WITNESS_KEY}); make one with keyledger audit generate-key NAME`);

  group
    .command('public-key')
    .description('print the cosigner verifier key (type 0x04) of the witness signing key: the log lists it in AUDIT_WITNESSES, clients trust it')
    .addOption(signingKey)
    .action(async (command: { signingKeyFile?: string }) => {
      const { NoteError, NoteSigner } = await witnessLibraries();
      try {
        const signer = NoteSigner.fromPrivateKey(await secret('KEYLEDGER_WITNESS_SIGNING_KEY', command.signingKeyFile, LOCAL_WITNESS_KEY, '--signing-key-file'));
        process.stdout.write(`${signer.cosignerVerifierKey()}\n`);
      } catch (error) {
        if (!(error instanceof CliUsageError || error instanceof NoteError || isSystemError(error))) throw error;
        reportFailure(error instanceof CliUsageError || isSystemError(error) ? error : new CliUsageError(error.message));
      }
    });

  group
    .command('serve')
    .description('answer POST <prefix>/add-checkpoint on --port: cosign each checkpoint of a trusted log that is consistent with the last one cosigned')
    .requiredOption('--log-key <vkey>', "a log's note verifier key (keyledger audit public-key), named after its origin (repeatable)", collect)
    .requiredOption('--state <file>', 'where the witness keeps the latest checkpoint it cosigned of each log (one witness process per file)')
    .option('--port <port>', 'the port to listen on (0: any free port, printed)', port, 8088)
    .option('--host <host>', 'the address to listen on', '127.0.0.1')
    .addOption(signingKey)
    .action(async (command: { logKey: string[]; state: string; port: number; host: string; signingKeyFile?: string }) => {
      const libraries = await witnessLibraries();
      const { NoteError, NoteSigner, parseVerifierKey } = libraries;
      let signer: NoteSigner;
      let logKeys: NoteVerifierKey[];
      try {
        signer = NoteSigner.fromPrivateKey(await secret('KEYLEDGER_WITNESS_SIGNING_KEY', command.signingKeyFile, LOCAL_WITNESS_KEY, '--signing-key-file'));
        logKeys = command.logKey.map((key) => parseVerifierKey(key));
        await readState(command.state);
      } catch (error) {
        if (!(error instanceof CliUsageError || error instanceof NoteError || isSystemError(error))) throw error;
        reportFailure(error instanceof CliUsageError || isSystemError(error) ? error : new CliUsageError(error.message));
        return;
      }
      // One request at a time: the check against the state and its update are one step (c2sp.org/tlog-witness).
      let turn = Promise.resolve();
      const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
        if (request.method !== 'POST' || !(request.url ?? '').split('?')[0]!.endsWith('/add-checkpoint')) return answer(response, 404, 'not found\n');
        const body = await readBody(request);
        if (body === undefined) return answer(response, 413, `an add-checkpoint request is at most ${MAX_BODY_BYTES} bytes\n`);
        let parsed;
        try {
          parsed = libraries.parseAddCheckpoint(body);
        } catch (error) {
          if (error instanceof libraries.WitnessRequestError || error instanceof NoteError) return answer(response, 400, `${error.message}\n`);
          throw error;
        }
        const checkpointRequest = parsed;
        const done = turn.then(async () => {
          const state = await readState(command.state);
          const origin = checkpointRequest.note.slice(0, checkpointRequest.note.indexOf('\n'));
          const outcome = libraries.witnessAddCheckpoint(checkpointRequest, logKeys, state[origin], signer, new Date());
          if (outcome.status === 200) await writeState(command.state, { ...state, [origin]: outcome.record });
          process.stderr.write(`${new Date().toISOString()} ${origin} old ${checkpointRequest.oldSize}: ${outcome.status}${outcome.status === 200 ? ` cosigned size ${outcome.record.size}` : ` ${outcome.body.trim()}`}\n`);
          answer(response, outcome.status, outcome.body, 'contentType' in outcome && outcome.contentType ? outcome.contentType : undefined);
        });
        turn = done.catch(() => undefined);
        await done;
      };
      const server = createServer((request, response) => {
        handle(request, response).catch((error: unknown) => {
          process.stderr.write(`add-checkpoint failed: ${(error as Error).message}\n`);
          if (!response.headersSent) answer(response, 500, 'the witness failed; nothing was cosigned\n');
        });
      });
      // A port in use or an address that is not this machine's: one line, not a stack trace.
      server.once('error', (error) => {
        process.exit(reportFailure(error));
      });
      server.listen(command.port, command.host, () => {
        const address = server.address();
        const bound = typeof address === 'object' && address ? address.port : command.port;
        process.stderr.write(`witness ${signer.cosignerVerifierKey()} listening on http://${command.host}:${bound}/add-checkpoint\n`);
      });
      const stop = (): void => {
        server.close(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
