/**
 * The RELP listener (`serve --relp-listen`): the 6514 listener's TLS, CA, CRL, allowlist, limits
 * and reload (src/listener/server.ts), with a RelpSession per connection instead of a framer.
 *
 * Shutdown is ordered so that nothing acknowledged is resent and nothing stored goes unacknowledged:
 * stopReading() (no new frames, no new connections), then the writer commits everything (acks go
 * out as each batch commits), then close() sends `serverclose` and ends every connection.
 */
import type { AddressInfo } from 'node:net';
import type { Frame } from '../framing/framer.js';
import type { PeerIdentity } from '../listener/identity.js';
import { describeError } from '../errors.js';
import { RateLimitedLog } from '../listener/ratelimit-log.js';
import type { ConnectionOptions } from '../listener/connection-options.js';
import { Listener } from '../listener/server.js';
import type { TlsMaterial } from '../listener/tls-files.js';
import { RelpMetrics } from '../metrics/relp.js';
import { RelpSession } from './session.js';
import type { ResendIndex } from './resends.js';

/** The listener's own options (the same CA, CRL, allow rules and limits as 6514), and RELP's. */
export interface RelpServiceOptions extends ConnectionOptions {
  readonly maxDataBytes: number;
  readonly resends: ResendIndex;
  /** Stores a frame (the stages, then the writer); `onCommitted` runs right after its COMMIT (RelpSessionOptions.store). */
  readonly store: (frame: Frame, peer: PeerIdentity, receivedAtUs: number, onCommitted: () => void) => void;
  /**
   * Runs before a new session reads its first byte (the connection is held meanwhile): adopts the
   * tails of chains whose writer is gone (src/relp/seed.ts OrphanTails), so that a resend that the
   * balancer sends here is recognized. A failure is logged; the session then starts without them.
   */
  readonly beforeSession?: () => Promise<void>;
}

/**
 * Test-only failure point: `SYSLOG_LEDGER_TEST_CRASH=after-commit-before-ack` kills the process
 * (SIGKILL, no cleanup) right after the COMMIT of the batch that brings the RELP frames committed
 * by this process to `SYSLOG_LEDGER_TEST_CRASH_AFTER` (default 1000), before any of that batch's
 * acks is written: the frames are stored and the client never hears of it.
 */
export function crashPointFromEnv(env: NodeJS.ProcessEnv = process.env): (() => void) | undefined {
  if (env.SYSLOG_LEDGER_TEST_CRASH !== 'after-commit-before-ack') return undefined;
  const after = Number(env.SYSLOG_LEDGER_TEST_CRASH_AFTER ?? 1000);
  let committed = 0;
  return () => {
    if (++committed >= after) process.kill(process.pid, 'SIGKILL');
  };
}

export class RelpService {
  readonly listener: Listener;
  readonly metrics: RelpMetrics;
  readonly #sessions = new Set<RelpSession>();
  #stopping = false;

  constructor(o: RelpServiceOptions) {
    const metrics = new RelpMetrics(o.metrics);
    this.metrics = metrics;
    const log = o.log;
    const violationLog = new RateLimitedLog(log);
    const crash = crashPointFromEnv();
    if (crash) log.warn({ after: process.env.SYSLOG_LEDGER_TEST_CRASH_AFTER ?? 1000 }, 'TEST CRASH POINT ARMED: the process kills itself between a COMMIT and its RELP acks');
    const store = crash
      ? (frame: Frame, peer: PeerIdentity, receivedAtUs: number, onCommitted: () => void) =>
          o.store(frame, peer, receivedAtUs, () => {
            crash();
            onCommitted();
          })
      : o.store;
    this.listener = new Listener({
      host: o.host,
      port: o.port,
      tls: o.tls,
      allowPeers: o.allowPeers,
      maxFrameBytes: o.maxDataBytes,
      maxConnections: o.maxConnections,
      maxConnectionsPerPeer: o.maxConnectionsPerPeer,
      ratePerPeer: o.ratePerPeer,
      burstPerPeer: o.burstPerPeer,
      handshakeTimeoutMs: o.handshakeTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs,
      metrics: o.metrics,
      log,
      ...(o.proxy ? { proxy: o.proxy } : {}),
      // The listener marks these connections' identity `transport: 'relp'` (ledger_connections.transport):
      // how a restart tells RELP sessions from TCP connections (src/relp/seed.ts).
      session: (io, peer) => {
        const session = new RelpSession({
          peer,
          io,
          maxDataBytes: o.maxDataBytes,
          metrics,
          log,
          violationLog,
          resends: o.resends,
          store: (frame, receivedAtUs, onCommitted) => store(frame, peer, receivedAtUs, onCommitted),
        });
        this.#sessions.add(session);
        if (this.#stopping) session.stop();
        const closed = (): void => {
          session.onClose();
          this.#sessions.delete(session);
        };
        const gate = o.beforeSession?.();
        if (gate === undefined) return { onData: (chunk, receivedAtUs) => session.onData(chunk, receivedAtUs), onClose: closed };
        // Held until the check is done; what arrived meanwhile is fed in order afterwards.
        let early: Array<[Buffer, number]> | undefined = [];
        let closedEarly = false;
        io.hold(true);
        void gate
          .catch((err: unknown) => violationLog.warn('relp_adopt', { err: describeError(err) }, 'RELP: could not read the tails of chains whose writer is gone; resends from them may be stored twice'))
          .then(() => {
            const chunks = early!;
            early = undefined;
            io.hold(false);
            for (const [chunk, us] of chunks) session.onData(chunk, us);
            if (closedEarly) closed();
          });
        return {
          onData: (chunk, receivedAtUs) => {
            if (early === undefined) return session.onData(chunk, receivedAtUs);
            early.push([chunk, receivedAtUs]);
            return 0;
          },
          onClose: () => {
            if (early === undefined) closed();
            else closedEarly = true;
          },
        };
      },
    });
  }

  listen(): Promise<AddressInfo> {
    return this.listener.listen();
  }

  /** Writer backpressure: stop reading every RELP connection (acks keep flowing). */
  pause(): void {
    // Stopping: sockets read on (and the sessions ignore the bytes) so that clients' FINs are seen.
    if (!this.#stopping) this.listener.pause();
  }

  resume(): void {
    if (!this.#stopping) this.listener.resume();
  }

  reload(material: TlsMaterial, allowPeers: readonly string[]): number {
    return this.listener.reload(material, allowPeers);
  }

  /**
   * Shutdown, step 1: no new connections, no new frames. The sessions take no more frames (never
   * stored, never acknowledged: the client resends them to the next process), but the sockets are
   * read on so that a client's FIN is seen and its connection closes without waiting out the grace.
   */
  stopReading(): void {
    this.#stopping = true;
    this.listener.stopAccepting();
    for (const s of this.#sessions) s.stop();
    this.listener.resume();
  }

  /** Shutdown, last step (after the writer committed): owed acks, `serverclose`, end. */
  async close(graceMs: number): Promise<void> {
    this.stopReading();
    for (const s of this.#sessions) s.serverClose();
    await this.listener.close(graceMs);
  }
}
