/**
 * `syslog-ledger verify-evidence DIR --public-key FILE`: checks an evidence package offline (no
 * database, no network). Exit 0 intact and signed by that key, 1 something changed (each finding
 * names the event or file), 2 cannot check (missing files, unknown format, no trusted key).
 */
import { helpText, parseOptions, str, type OptionSpecs } from '../config.js';
import { verifyEvidence } from '../evidence/verify.js';
import { loadPublicKey, type VerifyingKey } from '../checkpoints/signing.js';

export const VERIFY_EVIDENCE_OPTIONS = {
  'public-key': { type: 'string', arg: 'FILE', help: "the ledger's Ed25519 public key (SPKI PEM), from a source you trust: not from the package (required)" },
  json: { type: 'boolean', help: 'print the result as one JSON object' },
} as const satisfies OptionSpecs;

export interface VerifyEvidenceDeps {
  readonly stdout?: (text: string) => void;
  readonly stderr?: (text: string) => void;
}

export async function verifyEvidenceCommand(argv: string[], deps: VerifyEvidenceDeps = {}): Promise<number> {
  const out = deps.stdout ?? ((t: string) => void process.stdout.write(t));
  const err = deps.stderr ?? ((t: string) => void process.stderr.write(t));
  const { values, positionals } = parseOptions(argv, VERIFY_EVIDENCE_OPTIONS, { positionals: true });
  if (values.help) {
    out(`${helpText('syslog-ledger verify-evidence DIR --public-key FILE', 'Check an evidence package from `syslog-ledger export`, offline. Exit 0 intact and signed by that key, 1 changed, 2 cannot check.', VERIFY_EVIDENCE_OPTIONS)}\n`);
    return 0;
  }
  const [dir, ...extra] = positionals;
  if (dir === undefined || extra.length > 0) {
    err('syslog-ledger verify-evidence: give exactly one package folder\n');
    return 2;
  }
  const keyFile = str(values, 'public-key');
  if (keyFile === undefined) {
    err('syslog-ledger verify-evidence: --public-key FILE is required (no trusted key)\n');
    return 2;
  }
  let key: VerifyingKey;
  try {
    key = await loadPublicKey(keyFile);
  } catch (e) {
    err(`syslog-ledger verify-evidence: ${(e as Error).message}\n`);
    return 2;
  }
  const r = await verifyEvidence(dir, key);
  const code = r.result === 'intact' ? 0 : r.result === 'tampered' ? 1 : 2;
  if (values.json) out(`${JSON.stringify({ result: r.result, summary: r.summary, findings: r.findings })}\n`);
  else if (code === 0) out(`intact: ${r.summary}\n`);
  else if (code === 1) out(`TAMPERED: ${r.summary}\n${r.findings.map((f) => `  ${f}\n`).join('')}`);
  else out(`cannot check: ${r.summary}\n`);
  return code;
}
