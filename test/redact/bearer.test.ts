import { describe, expect, it } from 'vitest';
import { expectUntouched, mask } from './helpers.js';

describe('redaction rule: bearer', () => {
  it('bearer: Authorization headers of any scheme', () => {
    expect(mask('bearer', 'request headers: Authorization: Bearer mF_9.B5f-4.1JqM status=401')).toBe('request headers: Authorization: Bearer <redacted:bearer> status=401');
    expect(mask('bearer', 'Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l')).toBe('Authorization: Basic <redacted:bearer>');
    expect(mask('bearer', '{"headers":{"authorization":"Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"}}')).toBe('{"headers":{"authorization":"Token <redacted:bearer>"}}');
  });

  it('bearer: a bare Bearer token of 16+ characters', () => {
    expect(mask('bearer', 'curl -H "X: 1" got bearer 4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c back')).toBe('curl -H "X: 1" got bearer <redacted:bearer> back');
  });

  it('bearer: prose about bearer tokens is kept', () => {
    expectUntouched('bearer token expired for client web-ui; refreshing');
    expectUntouched('the bearer authentication scheme is required');
  });
});
