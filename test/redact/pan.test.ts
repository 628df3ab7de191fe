import { describe, expect, it } from 'vitest';
import { luhnValid } from '../../src/redact/patterns.js';
import { expectUntouched, mask } from './helpers.js';

describe('redaction rule: pan', () => {
  it('pan: Luhn-valid card numbers, plain or grouped', () => {
    expect(mask('pan', 'charge card=4111111111111111 amount=10.00')).toBe('charge card=<redacted:pan> amount=10.00');
    expect(mask('pan', 'card 5500 0000 0000 0004 exp 12/27')).toBe('card <redacted:pan> exp 12/27');
    expect(mask('pan', 'amex 3782-822463-10005 ok')).toBe('amex <redacted:pan> ok');
    expect(mask('pan', '{"pan":"6011000990139424"}')).toBe('{"pan":"<redacted:pan>"}');
    expect(mask('pan', 'mc2 2223000048400011.')).toBe('mc2 <redacted:pan>.');
  });

  it('pan: a 16-digit order number that fails Luhn is kept', () => {
    expect(luhnValid('4111111111111112')).toBe(false);
    expectUntouched('order 4111111111111112 shipped');
    expectUntouched('order_id=5234567812345678 status=paid');
  });

  it('pan: numbers that are not card numbers are kept', () => {
    // epoch milliseconds and microseconds (Luhn-valid ones too), longer numbers, decimals, IPs, phone numbers
    expectUntouched('ts=1717200000000 us=1717200000123456');
    expectUntouched('trace 41111111111111111111 id');
    expectUntouched('value 4111111111111111.25 EUR');
    expectUntouched('from 192.168.100.200 port 4111');
    expectUntouched('call +49 4111 1111 1111 11');
    expectUntouched('nginx: 2026-11-28T12:00:00.123456Z web-1 GET /items/4111111111 200 5500');
  });
});
