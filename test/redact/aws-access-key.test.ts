import { describe, expect, it } from 'vitest';
import { expectUntouched, mask } from './helpers.js';

describe('redaction rule: aws_access_key', () => {
  it('aws_access_key: long-term (AKIA) and temporary (ASIA) key ids', () => {
    expect(mask('aws_access_key', 'using credentials AKIAIOSFODNN7EXAMPLE for s3')).toBe('using credentials <redacted:aws_access_key> for s3');
    expect(mask('aws_access_key', '{"accessKeyId":"ASIAY34FZKBOKMUTVV7A"}')).toBe('{"accessKeyId":"<redacted:aws_access_key>"}');
  });

  it('aws_access_key: other words and ids are kept', () => {
    expectUntouched('region ASIA-PACIFIC selected; AKIA prefix documented');
    expectUntouched('user id AIDAJQABLZS4A3QDU576Q created');
    expectUntouched('XAKIAIOSFODNN7EXAMPLEX is not a key boundary');
  });
});
