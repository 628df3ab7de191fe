/**
 * Redaction set up at start (`serve`): the redaction key read, or created with a warning (keep it
 * secret and backed up), and the Redactor that the per-frame stages use. Off (`enabled: false`):
 * no key is read and frames are stored as received.
 */
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/registry.js';
import type { RedactionConfig } from './config.js';
import { loadOrCreateRedactionKey } from './key.js';
import { Redactor } from './redactor.js';

/** The Redactor for `config` keyed from `keyPath` (created there when absent), or undefined when redaction is off. */
export async function loadRedactor(config: RedactionConfig, keyPath: string, metrics: Metrics, log: Logger): Promise<Redactor | undefined> {
  let redactor: Redactor | undefined;
  if (config.enabled) {
    const redactionKey = await loadOrCreateRedactionKey(keyPath);
    if (redactionKey.created) log.warn({ file: keyPath, keyId: redactionKey.keyId }, 'created a new redaction HMAC key; keep it secret and backed up (docs/redaction.md)');
    redactor = new Redactor(config, redactionKey, metrics);
  }
  return redactor;
}
