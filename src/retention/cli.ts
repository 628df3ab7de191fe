/** Pieces the retention commands share: policy options, keys, and `verify --archive`. */
import { existsSync } from 'node:fs';
import { str, type OptionSpecs, type OptionValues } from '../config.js';
import { ConfigError, describeError } from '../errors.js';
import { loadPublicKey, type VerifyingKey } from '../checkpoints/signing.js';
import { PRESET_NAMES, SOURCE_CLASSES, parsePolicy, type RetentionPolicy } from './policy.js';
import { verifyArchive } from './verify-archive.js';

export const POLICY_OPTIONS = {
  retention: {
    type: 'string',
    arg: 'POLICY',
    help: `presets (${PRESET_NAMES.join(', ')}) and/or CLASS=DURATION (classes ${SOURCE_CLASSES.join(', ')}; 90d, 2w, 3mo, 6y), comma-separated; longest wins`,
  },
  hot: { type: 'string', arg: 'DURATION', help: 'hot window (kept in the database) of explicit CLASS=DURATION items (default 90d; presets have their own)' },
  now: { type: 'string', arg: 'TIME', help: 'evaluate the policy as of this RFC 3339 time instead of now (previews)' },
} as const satisfies OptionSpecs;

export function policyFrom(values: OptionValues): RetentionPolicy {
  const spec = str(values, 'retention');
  if (spec === undefined || spec === '') throw new ConfigError('--retention', `is required (or SYSLOG_LEDGER_RETENTION): e.g. --retention pci-dss, or --retention hipaa,debug=90d`);
  const hot = str(values, 'hot');
  return parsePolicy(spec, hot === undefined ? {} : { hot });
}

export function nowFrom(values: OptionValues): Date {
  const raw = str(values, 'now');
  if (raw === undefined) return new Date();
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw new ConfigError('--now', `expects an RFC 3339 time, got "${raw}"`);
  return new Date(t);
}

export async function loadKeys(files: readonly string[], option = '--public-key'): Promise<VerifyingKey[]> {
  for (const f of files) if (!existsSync(f)) throw new ConfigError(option, `${f} not found`);
  return Promise.all(files.map((f) => loadPublicKey(f)));
}

/**
 * `syslog-ledger verify --archive FILE`: offline, with the public key(s) only.
 * Exit 0 intact, 1 tampered or damaged, 2 could not check.
 */
export async function verifyArchiveCommand(file: string, keyFiles: readonly string[], json: boolean): Promise<number> {
  try {
    const keys = await loadKeys(keyFiles);
    const r = await verifyArchive(file, { keys });
    const m = r.manifest;
    const status = r.findingCount === 0 ? 'intact' : 'tampered';
    if (json) {
      console.log(JSON.stringify({ status, archive: r.dataPath, partition: m.partition.name, rows: r.rows, chains: m.chains.length, findings: r.findingCount, first: r.findings.slice(0, 20) }));
    } else {
      for (const f of r.findings) console.log(`TAMPERED archive=${r.dataPath}${f.chain !== null ? ` chain=${f.chain}` : ''}${f.seq !== null ? ` seq=${f.seq}` : ''} ${f.kind}: ${f.detail}`);
      const chains = m.chains.map((c) => `${c.chain} ${c.first_seq}..${c.last_seq} (checkpoint seq ${c.checkpoint?.seq})`).join(', ');
      console.log(`${status}: archive of ${m.partition.name} (${m.partition.from}..${m.partition.to}), ${r.rows} rows${chains ? `: ${chains}` : ''}, ${r.findingCount} finding(s)`);
    }
    return r.findingCount === 0 ? 0 : 1;
  } catch (err) {
    const msg = `verify could not check the archive: ${describeError(err)}`;
    if (json) console.log(JSON.stringify({ status: 'error', error: msg }));
    else console.error(msg);
    return 2;
  }
}
