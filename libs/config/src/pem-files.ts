import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/**
 * A file of PEM certificates, read at start: its path and text. A file that cannot be read or
 * holds no certificate (or a broken one) is a configuration error, not a crash later.
 */
export const pemCertificateFile = z
  .string()
  .min(1)
  .transform((path, ctx) => {
    let pem: string;
    try {
      pem = readFileSync(path, 'utf8');
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}): ${path}` });
      return z.NEVER;
    }
    const certificates = pem.match(PEM_CERTIFICATE) ?? [];
    if (certificates.length === 0) {
      ctx.addIssue({ code: 'custom', message: `holds no PEM certificate: ${path}` });
      return z.NEVER;
    }
    for (const [index, certificate] of certificates.entries()) {
      try {
        new X509Certificate(certificate);
      } catch {
        ctx.addIssue({ code: 'custom', message: `certificate #${index + 1} is not a valid X.509 certificate: ${path}` });
        return z.NEVER;
      }
    }
    return { path, pem };
  });
