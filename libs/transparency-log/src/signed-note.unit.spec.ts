import { randomBytes } from 'node:crypto';
import { formatCheckpoint, parseCheckpoint } from './checkpoint.js';
import { NOTE_SIGNATURE_TYPES, NoteSigner, cosignatureLine, formatVerifierKey, noteKeyId, openNote, parseVerifierKey } from './signed-note.js';
import { CheckpointFormatError, NoteError } from './transparency-log.errors.js';
import { ed25519PrivateKeyOfSeed, ed25519RawPublicKey } from '@keyledger/key-secrets';

// Published vectors: c2sp.org/signed-note's example, and golang.org/x/mod/sumdb/note's tests
// (PeterNeumann's and EnochRoot's keys and signatures).
const C2SP_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const C2SP_NOTE = 'This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG = '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG = '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';

const code = (run: () => unknown): string | undefined => {
  try {
    run();
    return undefined;
  } catch (error) {
    return error instanceof NoteError ? error.code : String(error);
  }
};

describe('signed notes', () => {
  it('opens the C2SP example note with its verifier key', () => {
    const opened = openNote(C2SP_NOTE, [parseVerifierKey(C2SP_VKEY)]);
    expect(opened).toEqual({ text: 'This is an example message.\n', verified: [{ name: 'example.com/foo', keyId: 0x530d903a }], unverified: [] });
  });

  it('signs exactly as golang.org/x/mod/sumdb/note does, and derives the published verifier key', () => {
    const signer = NoteSigner.fromPrivateKey(PETER_SKEY);
    expect(signer.verifierKey()).toBe(PETER_VKEY);
    expect(signer.sign(TEXT)).toBe(`${TEXT}\n${PETER_SIG}`);
  });

  it('round-trips verifier keys and checks their key id against the key', () => {
    expect(formatVerifierKey(parseVerifierKey(PETER_VKEY))).toBe(PETER_VKEY);
    expect(code(() => parseVerifierKey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=='))).toBe('MALFORMED_KEY');
    expect(code(() => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'))).toBe('MALFORMED_KEY');
    expect(code(() => parseVerifierKey('PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'))).toBe('MALFORMED_KEY');
    expect(code(() => NoteSigner.fromPrivateKey(PETER_SKEY.replace('c74f20a3', 'c74f20a4')))).toBe('MALFORMED_KEY');
  });

  it('ignores signatures of unknown keys but needs one known signature', () => {
    const note = `${TEXT}\n${PETER_SIG}${ENOCH_SIG}`;
    const opened = openNote(note, [parseVerifierKey(PETER_VKEY)]);
    expect(opened.verified).toEqual([{ name: 'PeterNeumann', keyId: 0xc74f20a3 }]);
    expect(opened.unverified).toEqual([{ name: 'EnochRoot', keyId: 0xaf0cfe78 }]);
    expect(openNote(note, [parseVerifierKey(PETER_VKEY), parseVerifierKey(ENOCH_VKEY)]).verified).toHaveLength(2);
    expect(code(() => openNote(note, []))).toBe('NO_KNOWN_SIGNATURE');
  });

  it('refuses a note whose text or known signature was changed, and malformed notes', () => {
    const keys = [parseVerifierKey(PETER_VKEY)];
    expect(code(() => openNote(`${TEXT.replace('cryptography', 'cryptographie')}\n${PETER_SIG}`, keys))).toBe('BAD_SIGNATURE');
    expect(code(() => openNote(`${TEXT}\n${PETER_SIG.slice(0, 60)}ABCD${PETER_SIG.slice(60)}`, keys))).toBe('BAD_SIGNATURE');
    expect(code(() => openNote(`${TEXT}${PETER_SIG}`, keys))).toBe('MALFORMED_NOTE');
    expect(code(() => openNote(`${TEXT}\n${PETER_SIG.trimEnd()}`, keys))).toBe('MALFORMED_NOTE');
    expect(code(() => openNote(`${TEXT}\u0007\n\n${PETER_SIG}`, keys))).toBe('MALFORMED_NOTE');
    expect(code(() => openNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, keys))).toBe('MALFORMED_NOTE');
  });

  it("verifies a witness's timestamped cosignature (type 0x04) and refuses it moved to another time", () => {
    const seed = randomBytes(32);
    const publicKey = ed25519RawPublicKey(ed25519PrivateKeyOfSeed(seed));
    const witness = { name: 'witness.example/w1', type: NOTE_SIGNATURE_TYPES.cosignatureV1, publicKey, keyId: noteKeyId('witness.example/w1', NOTE_SIGNATURE_TYPES.cosignatureV1, publicKey) };
    const vkey = parseVerifierKey(formatVerifierKey(witness));
    const signer = NoteSigner.fromPrivateKey(PETER_SKEY);
    const cosigned = `${signer.sign(TEXT)}${cosignatureLine(TEXT, witness.name, seed, 1_679_315_147n)}`;
    const opened = openNote(cosigned, [parseVerifierKey(PETER_VKEY), vkey]);
    expect(opened.verified).toEqual([{ name: 'PeterNeumann', keyId: 0xc74f20a3 }, { name: 'witness.example/w1', keyId: witness.keyId, timestamp: 1_679_315_147n }]);
    // The same Ed25519 key as a plain note key (0x01) has another key id: the cosignature is not its.
    expect(noteKeyId(witness.name, NOTE_SIGNATURE_TYPES.ed25519, publicKey)).not.toBe(witness.keyId);
    const line = cosigned.split('\n').at(-2)!;
    const bytes = Buffer.from(line.split(' ').at(-1)!, 'base64');
    bytes.writeBigUInt64BE(1_679_315_148n, 4);
    const moved = cosigned.replace(line, `${line.split(' ').slice(0, -1).join(' ')} ${bytes.toString('base64')}`);
    expect(code(() => openNote(moved, [vkey]))).toBe('BAD_SIGNATURE');
  });

  it('generates keys whose notes verify with their verifier key', () => {
    const { privateKey, verifierKey } = NoteSigner.generate('keyledger.example/audit');
    expect(privateKey).toMatch(/^PRIVATE\+KEY\+keyledger\.example\/audit\+[0-9a-f]{8}\+/);
    const note = NoteSigner.fromPrivateKey(privateKey).sign('hello\n');
    expect(openNote(note, [parseVerifierKey(verifierKey)]).text).toBe('hello\n');
    expect(code(() => NoteSigner.generate('has space'))).toBe('MALFORMED_KEY');
  });
});

describe('checkpoints', () => {
  const root = Buffer.from('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', 'base64');

  it('formats and parses the C2SP checkpoint body', () => {
    const text = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
    expect(formatCheckpoint({ origin: 'example.com/behind-the-sofa', size: 20852163, rootHash: root })).toBe(text);
    expect(parseCheckpoint(text)).toEqual({ origin: 'example.com/behind-the-sofa', size: 20852163, rootHash: root, extensions: [] });
  });

  it.each([
    ['no origin', '\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'],
    ['a leading zero', 'o\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'],
    ['a negative size', 'o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'],
    ['a short root', 'o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2=\n'],
    ['no final newline', 'o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I='],
    ['an empty extension line', 'o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n'],
  ])('refuses a checkpoint with %s', (_why, text) => {
    expect(() => parseCheckpoint(text)).toThrow(CheckpointFormatError);
  });
});
