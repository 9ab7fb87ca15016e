import { WEBHOOK_SIGNATURE_HEADER, WebhookSender, signWebhookPayload } from '@keyledger/key-delivery';
import type { SiemFormat } from '@keyledger/siem-format';
import type { SiemLine, SiemSink } from './siem-sink.js';

export interface WebhookSinkSettings {
  /** `https://…` */
  readonly url: string;
  /** Signs each body (Keyledger-Signature, as key deliveries are signed), current first. */
  readonly secrets: readonly string[];
  /** CAs trusted besides Node's (PEM). */
  readonly ca?: string;
  readonly timeoutMs?: number;
  /** The clock the signature's time is read from. */
  readonly now?: () => number;
}

/**
 * POSTs each batch as one JSON array (the records as objects, or CEF lines as strings), signed
 * with HMAC-SHA256 over `<t>.<body>` in `Keyledger-Signature`, the header key deliveries use
 * (receivers check it with `verifyWebhookSignature`). A 2xx answer acknowledges the batch;
 * anything else, or no answer within the timeout, is a failure and the batch is sent again.
 * Private addresses are allowed: the operator, not an admin key, names the URL.
 */
export class WebhookSink implements SiemSink {
  private readonly sender: WebhookSender;

  constructor(
    readonly name: string,
    readonly format: SiemFormat,
    private readonly settings: WebhookSinkSettings,
  ) {
    this.sender = new WebhookSender({ timeoutMs: settings.timeoutMs ?? 10_000, extraCa: settings.ca, userAgent: 'keyledger-siem-export', allowPrivateAddresses: true });
  }

  async write(lines: readonly SiemLine[]): Promise<void> {
    const body = `[${lines.map((line) => (this.format === 'cef' ? JSON.stringify(line.text) : line.text)).join(',')}]`;
    const timestamp = Math.floor((this.settings.now ?? Date.now)() / 1000);
    const outcome = await this.sender.post(this.settings.url, body, { [WEBHOOK_SIGNATURE_HEADER]: signWebhookPayload(body, this.settings.secrets, timestamp) });
    if (!outcome.ok) throw new Error(`webhook ${this.name}: ${outcome.error}`);
  }

  async close(): Promise<void> {}
}
