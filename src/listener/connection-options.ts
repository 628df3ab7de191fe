/**
 * What both listeners (TLS on 6514, and RELP) take alike from the server's configuration: the TLS
 * setup, the allowlist, the connection limits and the PROXY protocol. One place, so that the two
 * ports cannot drift apart.
 */
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/registry.js';
import type { ListenerOptions } from './server.js';
import type { TlsMaterial } from './tls-files.js';

/** The listener options both listeners share (RelpServiceOptions, src/relp/service.ts, extends it). */
export type ConnectionOptions = Pick<ListenerOptions, 'host' | 'port' | 'tls' | 'allowPeers' | 'maxConnections' | 'maxConnectionsPerPeer' | 'ratePerPeer' | 'burstPerPeer' | 'handshakeTimeoutMs' | 'idleTimeoutMs' | 'metrics' | 'log' | 'proxy'>;

/** What they read from the server's configuration (ServerConfig has these fields): the rest of ConnectionOptions. */
export type ConnectionConfig = Omit<ConnectionOptions, 'host' | 'port' | 'tls' | 'metrics' | 'log'>;

/** What both listeners (TLS and RELP) take alike: the TLS setup, allowlist, limits and PROXY protocol. */
export function connectionOptions(
  cfg: ConnectionConfig,
  at: { readonly host: string; readonly port: number },
  tls: TlsMaterial,
  metrics: Metrics,
  log: Logger,
  stage: string,
): ConnectionOptions {
  return {
    host: at.host,
    port: at.port,
    tls,
    allowPeers: cfg.allowPeers,
    maxConnections: cfg.maxConnections,
    maxConnectionsPerPeer: cfg.maxConnectionsPerPeer,
    ratePerPeer: cfg.ratePerPeer,
    burstPerPeer: cfg.burstPerPeer,
    handshakeTimeoutMs: cfg.handshakeTimeoutMs,
    idleTimeoutMs: cfg.idleTimeoutMs,
    metrics,
    log: log.child({ stage }),
    ...(cfg.proxy ? { proxy: cfg.proxy } : {}),
  };
}
