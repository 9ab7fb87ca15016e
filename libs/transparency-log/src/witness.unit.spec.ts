import { readFileSync } from 'node:fs';
import { formatCheckpoint } from './checkpoint.js';
import { NoteSigner, openNote, parseVerifierKey } from './signed-note.js';
import type { WitnessedCheckpoint } from './witness.js';
import { witnessAddCheckpoint } from './witness.js';
import { WitnessRequestError, formatAddCheckpoint, parseAddCheckpoint, parseCosignatureLines } from './witness-protocol.js';

// A valid consistency proof of transparency-dev/merkle's reference tree (testdata), between two sizes.
interface Probe {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  wantErr: boolean;
}
const probes = (JSON.parse(readFileSync(new URL('./testdata/merkle-probes.json', import.meta.url), 'utf8')) as { consistency: Probe[] }).consistency;
const probe = probes.find((candidate) => !candidate.wantErr && candidate.size1 > 1 && candidate.size1 < candidate.size2 && (candidate.proof?.length ?? 0) > 1)!;
const b64 = (text: string): Buffer => Buffer.from(text, 'base64');

const log = NoteSigner.fromPrivateKey(NoteSigner.generate('log.example/keyledger').privateKey);
const stranger = NoteSigner.fromPrivateKey(NoteSigner.generate('log.example/keyledger').privateKey);
const witness = NoteSigner.fromPrivateKey(NoteSigner.generate('witness.example/w1').privateKey);
const logKeys = [parseVerifierKey(log.verifierKey())];
const NOW = new Date('2026-12-06T12:00:00Z');

const checkpoint = (size: number, root: Buffer, signer = log): string => signer.sign(formatCheckpoint({ origin: 'log.example/keyledger', size, rootHash: root }));
const old: WitnessedCheckpoint = { size: probe.size1, rootHash: b64(probe.root1).toString('base64') };
const proof = probe.proof!.map(b64);

describe('a witness (c2sp.org/tlog-witness)', () => {
  it('cosigns a first checkpoint, and then one that a consistency proof shows extends it, remembering each', () => {
    const first = witnessAddCheckpoint({ oldSize: 0, proof: [], note: checkpoint(probe.size1, b64(probe.root1)) }, logKeys, undefined, witness, NOW);
    expect(first).toMatchObject({ status: 200, record: old });
    const next = checkpoint(probe.size2, b64(probe.root2));
    const second = witnessAddCheckpoint({ oldSize: probe.size1, proof, note: next }, logKeys, old, witness, NOW);
    expect(second).toMatchObject({ status: 200, record: { size: probe.size2 } });
    // The answer is a cosignature line the log's clients verify with the witness's cosigner key, timestamped now.
    const opened = openNote(next + (second as { body: string }).body, [parseVerifierKey(witness.cosignerVerifierKey())]);
    expect(opened.verified).toEqual([{ name: 'witness.example/w1', keyId: parseVerifierKey(witness.cosignerVerifierKey()).keyId, timestamp: BigInt(NOW.getTime() / 1000) }]);
  });

  it('answers each refusal with the status the protocol gives it, and cosigns nothing', () => {
    const next = checkpoint(probe.size2, b64(probe.root2));
    const ask = (request: Parameters<typeof witnessAddCheckpoint>[0], last: WitnessedCheckpoint | undefined = old) => {
      const answer = witnessAddCheckpoint(request, logKeys, last, witness, NOW);
      return { status: answer.status, body: answer.body, contentType: 'contentType' in answer ? answer.contentType : undefined };
    };
    const otherOrigin = NoteSigner.fromPrivateKey(NoteSigner.generate('other.example/log').privateKey);
    expect(ask({ oldSize: probe.size1, proof, note: otherOrigin.sign(formatCheckpoint({ origin: 'other.example/log', size: 1, rootHash: b64(probe.root1) })) }).status).toBe(404);
    expect(ask({ oldSize: probe.size1, proof, note: checkpoint(probe.size2, b64(probe.root2), stranger) }).status).toBe(403);
    expect(ask({ oldSize: probe.size2 + 1, proof, note: next }).status).toBe(400);
    // Another old size than the one cosigned last: 409 and that size, so the log can start over from it.
    expect(ask({ oldSize: probe.size1 - 1, proof, note: next })).toEqual({ status: 409, body: `${probe.size1}\n`, contentType: 'text/x.tlog.size' });
    expect(ask({ oldSize: 0, proof: [], note: next }).status).toBe(409);
    // The same size with another root: the log forked.
    expect(ask({ oldSize: probe.size1, proof: [], note: checkpoint(probe.size1, b64(probe.root2)) }).status).toBe(409);
    // A proof that does not lead from what was cosigned to the new root.
    expect(ask({ oldSize: probe.size1, proof: proof.slice(1), note: next }).status).toBe(422);
    expect(ask({ oldSize: probe.size1, proof, note: checkpoint(probe.size2, b64(probe.root1)) }).status).toBe(422);
    // A first checkpoint comes with no proof.
    expect(witnessAddCheckpoint({ oldSize: 0, proof, note: next }, logKeys, undefined, witness, NOW).status).toBe(422);
  });
});

describe('the add-checkpoint wire format', () => {
  it('round-trips a request', () => {
    const request = { oldSize: probe.size1, proof, note: checkpoint(probe.size2, b64(probe.root2)) };
    const body = formatAddCheckpoint(request);
    expect(body.startsWith(`old ${probe.size1}\n`)).toBe(true);
    expect(parseAddCheckpoint(body)).toEqual(request);
    expect(parseAddCheckpoint(formatAddCheckpoint({ oldSize: 0, proof: [], note: request.note }))).toEqual({ oldSize: 0, proof: [], note: request.note });
  });

  it('refuses a body that is not a request, saying what is wrong', () => {
    const note = checkpoint(probe.size2, b64(probe.root2));
    const refusal = (body: string): string => {
      try {
        parseAddCheckpoint(body);
        return 'parsed';
      } catch (error) {
        return error instanceof WitnessRequestError ? error.message : (error as Error).name;
      }
    };
    expect(refusal(`old 5\n${note}`)).toBe('a consistency proof line is not the base64 of a 32-byte hash');
    expect(refusal(`old 5\n${note.slice(0, note.indexOf('\n\n'))}`)).toBe('no blank line between the proof and the checkpoint');
    expect(refusal(`old 05\n\n${note}`)).toBe('the first line is not "old <size>"');
    expect(refusal(`new 5\n\n${note}`)).toBe('the first line is not "old <size>"');
    expect(refusal(`old 5\nnot-a-hash\n\n${note}`)).toBe('a consistency proof line is not the base64 of a 32-byte hash');
    expect(refusal(`old 5\n${`${Buffer.alloc(32).toString('base64')}\n`.repeat(64)}\n${note}`)).toBe('more than 63 consistency proof lines');
    expect(refusal('old 5\n\nnot a note\n')).toBe('NoteError');
  });

  it('reads only signature lines from a witness', () => {
    expect(parseCosignatureLines('— w a\n— w b\n')).toEqual(['— w a\n', '— w b\n']);
    expect(() => parseCosignatureLines('hello\n')).toThrow(WitnessRequestError);
    expect(() => parseCosignatureLines('')).toThrow(WitnessRequestError);
  });
});
