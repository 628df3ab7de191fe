import { describe, expect, it } from 'vitest';
import { expectUntouched, mask } from './helpers.js';

describe('redaction rule: api_key', () => {
  it('api_key: key/value pairs and headers', () => {
    expect(mask('api_key', 'GET /v1/items?api_key=9f8e7d6c5b4a&limit=10')).toBe('GET /v1/items?api_key=<redacted:api_key>&limit=10');
    expect(mask('api_key', 'X-Api-Key: 0123456789abcdef0123 accepted')).toBe('X-Api-Key: <redacted:api_key> accepted');
    expect(mask('api_key', '{"access_token":"ya29.a0AfH6SMBx","expires_in":3599}')).toBe('{"access_token":"<redacted:api_key>","expires_in":3599}');
    expect(mask('api_key', 'refresh token=abcDEF123456 rotated')).toBe('refresh token=<redacted:api_key> rotated');
  });

  it('api_key: tokens recognised by their prefix, without a key', () => {
    const gh = `ghp_${'A1b2C3d4E5'.repeat(4)}`;
    expect(mask('api_key', `clone with ${gh} done`)).toBe('clone with <redacted:api_key> done');
    expect(mask('api_key', `stripe ${'sk_live_'}4eC39HqLyjWDarjtT1zdp7dc charged`)).toBe('stripe <redacted:api_key> charged');
    expect(mask('api_key', `slack xoxb-123456789012-abcdefghijkl posted`)).toBe('slack <redacted:api_key> posted');
    expect(mask('api_key', `maps key AIzaSyD-1234567890abcdefghijklmnopqrstu used`)).toBe('maps key <redacted:api_key> used');
  });

  it('api_key: prose and look-alikes are kept', () => {
    expectUntouched('token: expired, please log in again');
    expectUntouched('CSRF token mismatch for session 42');
    expectUntouched('Accepted publickey for bob from 198.51.100.7 port 40000 ssh2: ED25519 SHA256:abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ');
    expectUntouched('task-runner sk-short done');
  });
});
