import { describe, expect, it } from 'vitest';
import { expectUntouched, mask } from './helpers.js';

const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

describe('redaction rule: jwt', () => {
  it('jwt: a signed token anywhere in the text', () => {
    expect(mask('jwt', `session=${JWT}; path=/`)).toBe('session=<redacted:jwt>; path=/');
    expect(mask('jwt', `{"id_token":"${JWT}"}`)).toBe('{"id_token":"<redacted:jwt>"}');
  });

  it('jwt: an unsigned (alg none) token', () => {
    expect(mask('jwt', 'tok eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2IifQ. end')).toBe('tok <redacted:jwt> end');
  });

  it('jwt: base64 that is not a JWT is kept', () => {
    expectUntouched('eyJhbGciOiJIUzI1NiJ9 alone is only a header');
    expectUntouched('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bob@laptop');
  });
});
