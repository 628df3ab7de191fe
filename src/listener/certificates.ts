/**
 * Start step 0, the server's certificates: a fresh machine (none of the TLS files there, a dev PKI
 * directory given) gets a development PKI so that `npm start` works with no setup; then the TLS
 * files are read and checked (./tls-files.ts). SIGHUP re-reads the files with loadTlsMaterial alone.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { createDevPki } from '../pki/devpki.js';
import { certificateNames, clientNameSettings } from '../pki/names.js';
import { loadTlsMaterial, type TlsMaterial, type TlsPaths } from './tls-files.js';

/** What the certificate step reads from the server's configuration (ServerConfig has these fields). */
export interface CertificatesConfig {
  readonly tlsPaths: TlsPaths;
  /** Where to create a development PKI when none of `tlsPaths` exists; unset: never. */
  readonly devPkiDir?: string;
  /** The TLS listener, for the `openssl s_client` line printed with a new dev PKI. */
  readonly listen: { readonly port: number };
}

/** 0: a fresh machine gets a dev PKI so that `npm start` works with no setup; then the TLS files are read. */
export async function loadCertificates(cfg: CertificatesConfig, log: Logger): Promise<TlsMaterial> {
  const paths = cfg.tlsPaths;
  if (cfg.devPkiDir !== undefined && ![paths.cert, paths.key, paths.ca].some((f) => existsSync(f))) {
    const pki = await createDevPki({ dir: cfg.devPkiDir });
    log.warn({ dir: resolve(cfg.devPkiDir) }, 'no certificates found: created a DEVELOPMENT PKI (CA, server, client). Use your own CA in production.');
    console.error(
      `\nDevelopment PKI created in ${resolve(cfg.devPkiDir)}. A client connects with:\n` +
        `  openssl s_client -connect localhost:${cfg.listen.port} -cert ${pki.client} -key ${pki.clientKey} -CAfile ${pki.ca}\n` +
        `Issue a certificate for another host: npx syslog-ledger certs --issue HOSTNAME --ca-dir ${cfg.devPkiDir} --out ./issued\n\n` +
        clientNameSettings(certificateNames(await readFile(pki.server))),
    );
  }
  return loadTlsMaterial(paths);
}
