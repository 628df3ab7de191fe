import { describe, expect, it } from 'vitest';
import { expectUntouched, mask } from './helpers.js';

describe('redaction rule: url_password', () => {
  it('url_password: masks the password of URL userinfo, keeping scheme, user and host', () => {
    expect(mask('url_password', 'connecting to postgres://app:s3cr3t@db.internal:5432/ledger')).toBe('connecting to postgres://app:<redacted:url_password>@db.internal:5432/ledger');
    expect(mask('url_password', 'fetch https://deploy:ghp%21x@git.example.com/repo.git failed')).toBe('fetch https://deploy:<redacted:url_password>@git.example.com/repo.git failed');
    expect(mask('url_password', 'redis://:onlypass@cache:6379/0')).toBe('redis://:<redacted:url_password>@cache:6379/0');
  });

  it('url_password: JSON-escaped slashes (rsyslog json templates)', () => {
    expect(mask('url_password', '{"msg":"amqp:\\/\\/guest:guest2@mq:5672\\/"}')).toBe('{"msg":"amqp:\\/\\/guest:<redacted:url_password>@mq:5672\\/"}');
  });

  it('url_password: URLs without a password, and e-mail addresses, are kept', () => {
    expectUntouched('GET https://example.com/path?q=1 from 198.51.100.7');
    expectUntouched('ssh://git@github.com:22/org/repo.git');
    expectUntouched('mail from alice@example.com to https://example.com:8443/inbox');
  });
});
