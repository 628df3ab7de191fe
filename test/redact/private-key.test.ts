import { describe, expect, it } from 'vitest';
import { expectUntouched, mask } from './helpers.js';
/** PEM private-key markers, assembled at run time so no committed file looks like it holds a key. */
const pem = (kind: string, edge: 'BEGIN' | 'END'): string => `-----${edge} ${kind}${kind ? ' ' : ''}PRIVATE` + ' KEY-----';


const BODY = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7';

describe('redaction rule: private_key', () => {
  it('private_key: a whole PEM block, with rsyslog #012 newlines or real ones', () => {
    expect(mask('private_key', `key dump: ${pem('', 'BEGIN')}#012${BODY}#012${pem('', 'END')} end`)).toBe('key dump: <redacted:private_key> end');
    expect(mask('private_key', `${pem('RSA', 'BEGIN')}\n${BODY}\n${pem('RSA', 'END')}`)).toBe('<redacted:private_key>');
    expect(mask('private_key', `${pem('OPENSSH', 'BEGIN')}\\n${BODY}\\n${pem('OPENSSH', 'END')}\\n`)).toBe('<redacted:private_key>\\n');
  });

  it('private_key: a block cut off by truncation is masked to the end', () => {
    expect(mask('private_key', `config: ${pem('EC', 'BEGIN')}#012${BODY}`)).toBe('config: <redacted:private_key>');
  });

  it('private_key: public keys and certificates are kept', () => {
    expectUntouched(`-----BEGIN PUBLIC KEY-----#012${BODY}#012-----END PUBLIC KEY-----`);
    expectUntouched(`-----BEGIN CERTIFICATE-----#012${BODY}#012-----END CERTIFICATE-----`);
    expectUntouched('loaded private key file /etc/ssl/private/server.key');
  });
});
