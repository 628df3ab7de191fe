import { describe, expect, it } from 'vitest';
import { expectUntouched, mask } from './helpers.js';

const BODY = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7';

describe('redaction rule: private_key', () => {
  it('private_key: a whole PEM block, with rsyslog #012 newlines or real ones', () => {
    expect(mask('private_key', `key dump: -----BEGIN PRIVATE KEY-----#012${BODY}#012-----END PRIVATE KEY----- end`)).toBe('key dump: <redacted:private_key> end');
    expect(mask('private_key', `-----BEGIN RSA PRIVATE KEY-----\n${BODY}\n-----END RSA PRIVATE KEY-----`)).toBe('<redacted:private_key>');
    expect(mask('private_key', `-----BEGIN OPENSSH PRIVATE KEY-----\\n${BODY}\\n-----END OPENSSH PRIVATE KEY-----\\n`)).toBe('<redacted:private_key>\\n');
  });

  it('private_key: a block cut off by truncation is masked to the end', () => {
    expect(mask('private_key', `config: -----BEGIN EC PRIVATE KEY-----#012${BODY}`)).toBe('config: <redacted:private_key>');
  });

  it('private_key: public keys and certificates are kept', () => {
    expectUntouched(`-----BEGIN PUBLIC KEY-----#012${BODY}#012-----END PUBLIC KEY-----`);
    expectUntouched(`-----BEGIN CERTIFICATE-----#012${BODY}#012-----END CERTIFICATE-----`);
    expectUntouched('loaded private key file /etc/ssl/private/server.key');
  });
});
