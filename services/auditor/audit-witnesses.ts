import { ConfigError, loadAuditorConfig } from '@keyledger/config';
import type { AuditorEnv } from '@keyledger/config';
import type { WitnessEndpoint } from '@keyledger/transparency-log';
import { NOTE_SIGNATURE_TYPES, NoteError, NoteSigner, parseVerifierKey } from '@keyledger/transparency-log';

/** The witnesses of AUDIT_WITNESSES with their keys parsed; ConfigError naming the entry whose key is not a cosigner key. */
export function auditWitnessEndpoints(config: Pick<AuditorEnv, 'AUDIT_WITNESSES' | 'KEYLEDGER_AUDIT_SIGNING_KEY'>): WitnessEndpoint[] {
  let logKey: Buffer;
  try {
    logKey = parseVerifierKey(NoteSigner.fromPrivateKey(config.KEYLEDGER_AUDIT_SIGNING_KEY).verifierKey()).publicKey;
  } catch (error) {
    if (error instanceof NoteError) throw new ConfigError([`KEYLEDGER_AUDIT_SIGNING_KEY: ${error.message}`]);
    throw error;
  }
  return config.AUDIT_WITNESSES.map(({ key, url }) => {
    try {
      const parsed = parseVerifierKey(key);
      if (parsed.type !== NOTE_SIGNATURE_TYPES.cosignatureV1 && parsed.type !== NOTE_SIGNATURE_TYPES.ed25519) throw new NoteError('MALFORMED_KEY', 'not an Ed25519 key');
      // The log's own signature would pass for such a witness's: a witness is a second party, with a key of its own.
      if (parsed.publicKey.equals(logKey)) throw new NoteError('MALFORMED_KEY', `witness ${parsed.name} has the log's own key (KEYLEDGER_AUDIT_SIGNING_KEY): a witness signs with a key of its own`);
      return { key: parsed, url };
    } catch (error) {
      if (error instanceof NoteError) throw new ConfigError([`AUDIT_WITNESSES: ${error.message}`]);
      throw error;
    }
  });
}

/** The auditor's configuration, its witnesses' keys checked too: a bad one stops the start with one line. */
export function loadAuditorConfigWithWitnesses(env: Record<string, string | undefined>): AuditorEnv {
  const config = loadAuditorConfig(env);
  auditWitnessEndpoints(config);
  return config;
}
