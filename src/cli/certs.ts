/**
 * `syslog-ledger certs`: a development PKI (CA, server, client, CRL), certificates for new
 * hosts signed by that CA, and revocation.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { describeError } from '../errors.js';
import { createDevPki, DEFAULT_CLIENT_CN, DEFAULT_DAYS, issueCert, revoke } from '../pki/devpki.js';
import { certificateNames, clientNameSettings } from '../pki/names.js';

export const CERTS_HELP = `Usage:
  syslog-ledger certs [--out DIR] [--client CN ...] [--server-name NAME ...] [--days N] [--force]
  syslog-ledger certs --issue CN [--san NAME ...] [--server] [--ca-dir DIR] [--out DIR] [--days N]
  syslog-ledger certs --revoke SERIAL [--revoke SERIAL ...] [--ca-dir DIR]

Creates a development PKI in DIR (default ./certs), the files "syslog-ledger serve" uses:
  ca.pem, ca-key.pem          the CA (keep ca-key.pem private)
  server.pem, server-key.pem  server certificate for localhost, 127.0.0.1, ::1, this host's
                              name and every --server-name
  client.pem, client-key.pem  client certificate, CN ${DEFAULT_CLIENT_CN} unless --client is given
                              (further --client CNs go to client-<CN>.pem)
  crl.pem                     certificate revocation list (empty), for --tls-crl
Keys are ECDSA P-256, PKCS#8 PEM, mode 0600. An existing CA is never replaced without --force.

Options:
  --out DIR            folder to write into (default ./certs; with --issue, default --ca-dir)
  --client CN          client certificate common name (repeatable); its SAN is DNS:CN
  --server-name NAME   extra DNS name or IP address for the server certificate (repeatable)
  --days N             validity of certificates and CRL in days (default ${DEFAULT_DAYS}; the CA gets 3650)
  --force              replace an existing CA in --out
  --issue CN           issue one certificate for a new host, signed by the CA in --ca-dir;
                       writes <CN>.pem and <CN>-key.pem
  --san NAME           subject alternative name for --issue (repeatable; default: the CN)
  --server             with --issue: a server certificate (serverAuth) instead of a client one
  --ca-dir DIR         folder holding ca.pem and ca-key.pem (default --out, else ./certs)
  --revoke SERIAL      add a certificate serial number (hex) to crl.pem in --ca-dir (repeatable)
  -h, --help           this help
`;

const OPTIONS = {
  out: { type: 'string' },
  client: { type: 'string', multiple: true },
  'server-name': { type: 'string', multiple: true },
  days: { type: 'string' },
  force: { type: 'boolean' },
  issue: { type: 'string' },
  san: { type: 'string', multiple: true },
  server: { type: 'boolean' },
  'ca-dir': { type: 'string' },
  revoke: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Output streams, replaceable in tests. */
export interface CertsIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const STDIO: CertsIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Runs `syslog-ledger certs` with the arguments after the command name; resolves to the exit code. */
export async function certsCommand(argv: string[], io: CertsIo = STDIO): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    io.err(`syslog-ledger certs: ${describeError(err)}\nRun "syslog-ledger certs --help" for the options.\n`);
    return 2;
  }
  if (values.help) {
    io.out(CERTS_HELP);
    return 0;
  }
  let days: number | undefined;
  if (values.days !== undefined) {
    days = Number(values.days);
    if (!Number.isInteger(days) || days <= 0) {
      io.err(`syslog-ledger certs: --days must be a positive whole number of days, got "${values.days}"\n`);
      return 2;
    }
  }
  const modes = [values.issue !== undefined, values.revoke !== undefined].filter(Boolean).length;
  if (modes > 1) {
    io.err('syslog-ledger certs: --issue and --revoke cannot be combined\n');
    return 2;
  }
  // With --issue/--revoke, --out alone names the CA folder too (`certs --out ./certs --issue HOST`).
  const caDir = resolve(values['ca-dir'] ?? values.out ?? './certs');

  try {
    if (values.revoke !== undefined) {
      const crl = await revoke({ dir: caDir, serials: values.revoke, ...(days ? { days } : {}) });
      io.out(`Revoked ${values.revoke.join(', ')}; CRL written to ${crl}\nServe it with --tls-crl ${crl} (restart or reload the server).\n`);
      return 0;
    }
    if (values.issue !== undefined) {
      const cn = values.issue;
      const outDir = resolve(values.out ?? caDir);
      const notAfter = new Date(Date.now() + (days ?? DEFAULT_DAYS) * 86_400_000);
      const issued = await issueCert({
        dir: caDir,
        cn,
        sans: values.san ?? [cn],
        out: resolve(outDir, cn.replace(/[^A-Za-z0-9._-]/g, '_')),
        notAfter,
        serverAuth: values.server ?? false,
      });
      io.out(
        `Issued a ${values.server ? 'server' : 'client'} certificate for ${cn} (serial ${issued.serial}):\n` +
          `  ${issued.cert}\n  ${issued.key}\n` +
          `Copy both, with ${resolve(caDir, 'ca.pem')}, to the host; revoke later with\n` +
          `  syslog-ledger certs --revoke ${issued.serial} --ca-dir ${caDir}\n\n` +
          (values.server ? clientNameSettings(certificateNames(await readFile(issued.cert))) : clientUsage({ ca: resolve(caDir, 'ca.pem'), cert: issued.cert, key: issued.key })),
      );
      return 0;
    }
    if (values.san !== undefined || values.server) {
      io.err('syslog-ledger certs: --san and --server only apply with --issue\n');
      return 2;
    }
    const dir = resolve(values.out ?? './certs');
    const files = await createDevPki({
      dir,
      serverNames: values['server-name'] ?? [],
      clients: (values.client ?? []).map((cn) => ({ cn })),
      ...(days ? { days } : {}),
      overwrite: values.force ?? false,
    });
    io.out(
      `Created a development PKI in ${dir}:\n` +
        `  CA         ${files.ca}  (key ${files.caKey}: keep it private)\n` +
        `  server     ${files.server}, ${files.serverKey}\n` +
        files.clients.map((c) => `  client     ${c.cert}, ${c.key}  (CN ${c.cn})\n`).join('') +
        `  CRL        ${files.crl}\n\n` +
        clientNameSettings(certificateNames(await readFile(files.server))) +
        '\n' +
        clientUsage({ ca: files.ca, cert: files.client, key: files.clientKey }),
    );
    return 0;
  } catch (err) {
    io.err(`syslog-ledger certs: ${describeError(err)}\n`);
    return 1;
  }
}

/** How a client uses its files: one test frame with openssl, and the rsyslog forwarding action. */
export function clientUsage(files: { ca: string; cert: string; key: string }, target = 'localhost'): string {
  return `Send a test message:
  printf '<134>1 - myhost myapp - - - hello\\n' | openssl s_client -quiet -no_ign_eof -connect ${target}:6514 \\
    -cert ${files.cert} -key ${files.key} -CAfile ${files.ca}

rsyslog (package rsyslog-gnutls), e.g. /etc/rsyslog.d/60-syslog-ledger.conf
(full, tested configs: deploy/clients/):
  global(
    DefaultNetstreamDriverCAFile="${files.ca}"
    DefaultNetstreamDriverCertFile="${files.cert}"
    DefaultNetstreamDriverKeyFile="${files.key}"
  )
  action(type="omfwd" target="${target}" port="6514" protocol="tcp"
    StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name"
    template="RSYSLOG_SyslogProtocol23Format" TCP_Framing="octet-counted"
    queue.type="LinkedList" queue.filename="fwd_ledger" queue.saveonshutdown="on"
    action.resumeRetryCount="-1")
`;
}
