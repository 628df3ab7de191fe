/**
 * Start step 8, RELP (`serve --relp-listen`): reads back the tails of the RELP sessions the previous
 * process stored last (so that resends after a crash are recognized), then builds the RelpService
 * with the 6514 TLS setup. Its port opens later: the Server opens the listeners' ports last.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import type { ConnectionOptions } from '../listener/connection-options.js';
import { ResendIndex } from './resends.js';
import { OrphanTails, seedResends } from './seed.js';
import { RelpService, type RelpServiceOptions } from './service.js';

export interface StartRelpOptions {
  readonly databaseUrl: string;
  /** This server's chain: its RELP tails are read back; other chains' are adopted once their writer is gone. */
  readonly chain: string;
  readonly maxDataBytes: number;
  /** The TLS setup, allowlist, limits and PROXY protocol, on RELP's host and port (src/listener/connection-options.ts). */
  readonly connection: ConnectionOptions;
  /** Stores a frame (through the stage workers, or the stages inline, then the writer); `onCommitted` runs after its COMMIT. */
  readonly store: RelpServiceOptions['store'];
  /** Whether intake is full (the writer's queue or the stage pool): RELP then pauses until the server resumes it. */
  readonly full: () => boolean;
  readonly log: Logger;
}

/**
 * 8, RELP: reads back the tails of the RELP sessions the previous process stored last (so that
 * resends after a crash are recognized), then builds the service with the 6514 TLS setup; the
 * caller opens its port (listen()).
 */
export async function startRelp(opts: StartRelpOptions): Promise<RelpService> {
  const { databaseUrl, log } = opts;
  const resends = new ResendIndex();
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'syslog-ledger relp' });
  await client.connect();
  try {
    const sessions = await seedResends(resends, client, opts.chain);
    log.info({ sessions, chain: opts.chain }, 'RELP: read back the last frames of the previous RELP sessions to recognize resends');
  } finally {
    await client.end();
  }
  const orphans = new OrphanTails({ databaseUrl, index: resends, ownChain: opts.chain, onAdopt: (chain, sessions) => log.info({ chain, sessions }, "RELP: adopted the last frames of a chain whose writer is gone, to recognize its sessions' resends here") });
  const service: RelpService = new RelpService({
    ...opts.connection,
    maxDataBytes: opts.maxDataBytes,
    resends,
    // Several servers: a resend of a killed server's session may come here (src/relp/seed.ts).
    beforeSession: () => orphans.check(),
    store: (frame, peer, receivedAtUs, onCommitted) => {
      opts.store(frame, peer, receivedAtUs, onCommitted);
      if (opts.full()) service.pause();
    },
  });
  return service;
}
