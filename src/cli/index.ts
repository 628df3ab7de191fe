/** The `syslog-ledger` command line: one file per command; this one dispatches. */
import { ConfigError, LedgerError, describeError } from '../errors.js';

const COMMANDS: Record<string, { summary: string; run: () => Promise<(argv: string[]) => Promise<number>> }> = {
  serve: { summary: 'run the server (listener, writer, metrics)', run: async () => (await import('./serve.js')).serveCommand },
  migrate: { summary: 'apply migrations/ to the database, idempotently', run: async () => (await import('./migrate.js')).migrateCommand },
  verify: { summary: 'recompute and check the ledger; exit 0 intact, 1 tampered, 2 could not check', run: async () => (await import('./verify.js')).verifyCommand },
  parse: { summary: 'dry run: frames on stdin, normalized events as JSON lines on stdout', run: async () => (await import('./parse.js')).parseCommand },
  prove: { summary: 'inclusion proof for one event, or consistency proof between two checkpoints', run: async () => (await import('./prove.js')).proveCommand },
  'verify-proof': { summary: 'check a proof offline with the public key', run: async () => (await import('./verify-proof.js')).verifyProofCommand },
  export: { summary: 'evidence package for a query: events, range proofs, checkpoints, signed manifest', run: async () => (await import('./export.js')).exportCommand },
  'verify-evidence': { summary: 'check an evidence package offline with the public key; exit 0 / 1 / 2', run: async () => (await import('./verify-evidence.js')).verifyEvidenceCommand },
  certs: { summary: 'create a development PKI (CA, server, client, CRL) in a folder', run: async () => (await import('./certs.js')).certsCommand },
  retention: { summary: 'show a retention policy; --plan: what leaves the database, and when', run: async () => (await import('./retention.js')).retentionCommand },
  archive: { summary: 'archive partitions past their hot window (verified), then drop them', run: async () => (await import('./archive.js')).archiveCommand },
  restore: { summary: 'load an archive into its own schema, verified on the way in', run: async () => (await import('./restore.js')).restoreCommand },
  coverage: { summary: 'per source over a period: first and last event, count, silent windows, sequence gaps', run: async () => (await import('./coverage.js')).coverageCommand },
};

export function usageText(): string {
  const lines = ['Usage: syslog-ledger <command> [options]', '', 'Commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(14)} ${c.summary}`);
  lines.push('', 'Every command has --help. Options also come from the environment: DATABASE_URL, SYSLOG_LEDGER_<OPTION>.');
  return lines.join('\n');
}

export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usageText());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`syslog-ledger: unknown command "${name}"\n\n${usageText()}`);
    return 2;
  }
  try {
    return await (await command.run())(rest);
  } catch (err) {
    if (err instanceof ConfigError) console.error(`syslog-ledger ${name}: invalid option ${err.message}`);
    else if (err instanceof LedgerError) console.error(`syslog-ledger ${name}: ${err.message}`);
    else console.error(`syslog-ledger ${name}: ${describeError(err)}`);
    return 2;
  }
}
