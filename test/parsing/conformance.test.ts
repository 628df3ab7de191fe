import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runConformance } from '../../scripts/conformance.js';

const fixtures = fileURLToPath(new URL('../fixtures/parser-cases/', import.meta.url));
const results = runConformance(fixtures);

/**
 * Cases of the MIT/Apache fixtures where the product disagrees with the source, each for a
 * reason written down in docs/parsing.md ("Deliberate differences"). A change here is a
 * change of behaviour: update the doc with it.
 */
const KNOWN_DISAGREEMENTS = [
  // RFC 3164 §4.1.3: a space ends the TAG, so `Some message` has TAG `Some` (rsyslog, syslog-ng agree)
  'influxdata-go-syslog/rfc3164/testCases/3',
  'influxdata-go-syslog/rfc3164/testCases/5',
  'elastic-beats/libbeat/reader/syslog/rfc3164_test.go/ok',
  'elastic-beats/libbeat/reader/syslog/rfc3164_test.go/ok-rfc3339',
  'elastic-beats/libbeat/reader/syslog/rfc3164_test.go/non-standard-date',
  // no PRI: PRI 13 as rsyslog, beats leaves it unset
  'elastic-beats/libbeat/reader/syslog/rfc3164_test.go/ok-no-pri',
  // lenient RFC 3164: beats refuses frames rsyslog and syslog-ng accept
  'elastic-beats/libbeat/reader/syslog/rfc3164_test.go/err-pri-missing-brackets',
  'elastic-beats/libbeat/reader/syslog/rfc3164_test.go/err-ts-invalid-missing',
  'elastic-beats/libbeat/reader/syslog/rfc3164_test.go/err-ts-invalid-bsd',
  'elastic-beats/libbeat/reader/syslog/rfc3164_test.go/err-ts-invalid-rfc3339',
  'elastic-beats/libbeat/reader/syslog/rfc3164_test.go/err-hostname-too-long',
  // strict RFC 5424: syslog-loose accepts SD that breaks the ABNF, and frames without PRI
  'syslog-loose/tests/tests.rs/parse_5424_multiple_structured_data/0',
  'syslog-loose/tests/tests.rs/parse_missing_pri_5424/0',
  'syslog-loose/tests/tests.rs/handles_incorrect_sd_element/0',
  'syslog-loose/tests/tests.rs/handles_incorrect_sd_element/1',
].sort();

describe('conformance (test/fixtures/parser-cases)', () => {
  it('conformance: runs every fixture record', () => {
    expect(results.filter((r) => r.file === 'rfc5424')).toHaveLength(241);
    expect(results.filter((r) => r.file === 'rfc3164')).toHaveLength(36);
    expect(results.filter((r) => r.file === 'octet-counting')).toHaveLength(17);
  });

  it('conformance: every strict go-syslog RFC 5424 and octet-counting case agrees (valid/invalid and every asserted field)', () => {
    const strict = results.filter((r) => r.source === 'influxdata/go-syslog' && r.file !== 'rfc3164');
    expect(strict).toHaveLength(241);
    const failures = strict.filter((r) => r.outcome === 'fail').map((r) => `${r.id}: ${r.problems.join('; ')}`);
    expect(failures).toEqual([]);
  });

  it('conformance: the only deliberate difference from go-syslog RFC 5424 is the literal backslash of §6.3.3', () => {
    expect(results.filter((r) => r.outcome === 'deliberate').map((r) => r.id)).toEqual(['influxdata-go-syslog/rfc5424/testCases/115']);
  });

  it('conformance: syslog-loose RFC 3164 cases all agree', () => {
    const loose = results.filter((r) => r.file === 'rfc3164' && r.source === 'StephenWakely/syslog-loose');
    expect(loose).toHaveLength(14);
    expect(loose.filter((r) => r.outcome !== 'pass').map((r) => `${r.id}: ${r.problems.join('; ')}`)).toEqual([]);
  });

  it('conformance: the remaining disagreements are the documented ones', () => {
    const fails = results.filter((r) => r.outcome === 'fail').map((r) => r.id).sort();
    expect(fails).toEqual(KNOWN_DISAGREEMENTS);
  });
});
