/**
 * The RFC 5425 listener: TLS (1.2 minimum) with a required client certificate, checked against the
 * CA (and CRL) on every handshake. `rejectUnauthorized` is off so that a refused peer's reason
 * (no certificate, unknown CA, expired, revoked, not allowed) is known, logged and counted,
 * instead of vanishing inside OpenSSL.
 *
 * Bytes in, frames out: each connection has its own ConnectionHandler with the peer's proven
 * identity (by default a Framer whose frames go to `onFrames`; RELP brings a session). Backpressure: `pause()` stops reading from every socket (TCP then pushes
 * back on the senders), `resume()` starts again.
 */
import { constants as cryptoConstants, type X509Certificate } from 'node:crypto';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { Framer, type Frame } from '../framing/framer.js';
import { certificateNames } from '../pki/names.js';
import type { Metrics } from '../metrics/registry.js';
import { identityOf, peerNames, type PeerIdentity } from './identity.js';
import { ProxyFront, type ProxyProtocolOptions } from './proxy-protocol.js';
import { TokenBucket } from './limits.js';
import { RateLimitedLog } from './ratelimit-log.js';
import { isRevoked, type TlsMaterial } from './tls-files.js';

/** Frame processing one connection may do per turn of the event loop before it waits for the next. */
const TURN_BUDGET_MS = 10;

export interface ListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: TlsMaterial;
  /** CN/SAN patterns with `*` wildcards; empty: any certificate the CA signed. */
  readonly allowPeers: readonly string[];
  readonly maxFrameBytes: number;
  readonly maxConnections: number;
  /** Connections at once from one certificate identity. */
  readonly maxConnectionsPerPeer: number;
  /** Events per second per peer (0: unlimited), and the burst it may send above that. */
  readonly ratePerPeer: number;
  readonly burstPerPeer: number;
  readonly handshakeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Syslog over TLS (the default handler): frames completed by one read, from one peer, received at `receivedAtUs`. */
  readonly onFrames?: (frames: readonly Frame[], peer: PeerIdentity, receivedAtUs: number) => void;
  /**
   * What reads each authenticated connection's bytes; default: an RFC 5425 Framer handing frames
   * to `onFrames` (`framedSyslog`). RELP (src/relp/) brings its own. Everything around it (TLS,
   * CA, CRL, allowlist, limits, rate, reload) is the same for every protocol.
   */
  readonly session?: (io: ConnectionIo, peer: PeerIdentity) => ConnectionHandler;
  /** PROXY protocol from trusted balancers, read before TLS (src/listener/proxy-protocol.ts); unset: off. */
  readonly proxy?: ProxyProtocolOptions;
}

/** What a protocol session may do with its connection. */
export interface ConnectionIo {
  write(text: string): void;
  /** Ends the connection once what was written is sent. */
  end(): void;
  destroy(): void;
  /** Stops (true) or restarts (false) reading this one connection. */
  hold(on: boolean): void;
}

/** A protocol session's side of a connection. */
export interface ConnectionHandler {
  /** Bytes read; returns how many events they completed (what the per-peer rate limit counts). */
  onData(chunk: Buffer, receivedAtUs: number): number;
  onClose(): void;
}

/** Syslog over TLS (RFC 5425): the bytes through a Framer, complete frames to `onFrames`. */
export function framedSyslog(
  maxFrameBytes: number,
  peer: PeerIdentity,
  onFrames: (frames: readonly Frame[], peer: PeerIdentity, receivedAtUs: number) => void,
): ConnectionHandler {
  const framer = new Framer({ maxFrameBytes });
  return {
    onData(chunk, receivedAtUs) {
      const frames = framer.push(chunk);
      if (frames.length > 0) onFrames(frames, peer, receivedAtUs);
      return frames.length;
    },
    onClose() {
      // A last frame without its LF (or a cut octet-counted one) is still a frame.
      const rest = framer.end();
      if (rest.length > 0) onFrames(rest, peer, nowMicros());
    },
  };
}

/** Refusal reasons (metric label values). */
export const REFUSAL_REASONS = [
  'no_certificate', 'unknown_ca', 'expired', 'not_yet_valid', 'revoked', 'peer_not_allowed',
  'handshake_timeout', 'handshake_error', 'bad_certificate', 'connection_limit',
  // The client refused us: a TLS alert during the handshake, or (rsyslog's x509/name check, done
  // after a completed handshake) a close before sending a single byte.
  'client_alert', 'client_closed_after_handshake',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export function refusalReason(code: string | Error | null | undefined): RefusalReason {
  const c = typeof code === 'string' ? code : (code as { code?: string } | null | undefined)?.code ?? String(code ?? '');
  switch (c) {
    case 'CERT_HAS_EXPIRED':
      return 'expired';
    case 'CERT_NOT_YET_VALID':
      return 'not_yet_valid';
    case 'CERT_REVOKED':
      return 'revoked';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_SIGNATURE_FAILURE':
      return 'unknown_ca';
    case 'ERR_TLS_HANDSHAKE_TIMEOUT':
      return 'handshake_timeout';
    default:
      return c.startsWith('ERR_SSL') || c.startsWith('ECONN') || c === 'EPIPE' ? 'handshake_error' : 'bad_certificate';
  }
}

/** The alert a client sent, from Node's error code (`ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE` -> `bad_certificate`). */
export function clientAlertName(err: Error | null | undefined): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  const m = typeof code === 'string' ? /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_([A-Z0-9_]+)$/.exec(code) : null;
  return m ? m[1]!.toLowerCase() : undefined;
}

/** Alerts that mean the client did not accept the server's certificate. */
const CERTIFICATE_ALERTS = new Set(['bad_certificate', 'unsupported_certificate', 'certificate_revoked', 'certificate_expired', 'certificate_unknown', 'unknown_ca', 'access_denied', 'decrypt_error']);

/** A peer that closes this soon after its handshake without sending a byte most likely refused the server. */
export const SILENT_CLOSE_MS = 5000;

/** DNS names of the server certificate (what a client's name check can match; rsyslog's x509/name ignores IP SANs). */
export function serverDnsNames(cert: Buffer): string[] {
  return certificateNames(cert).dns;
}

/** What to tell the operator when a client refused this server's certificate. */
export function rejectedCertificateHint(names: readonly string[], probably = false): string {
  return (
    `the client ${probably ? 'probably ' : ''}rejected this server's certificate: check the name it expects, e.g. rsyslog's permitted peer / target ` +
    `(StreamDriverAuthMode="x509/name" matches DNS names only, never an IP address; this certificate names ${names.length ? names.join(', ') : 'no DNS name'}) ` +
    'and that it trusts the CA that signed it'
  );
}

/** `*` matches any run of characters within the name (as rsyslog's PermittedPeer wildcards). */
export function compilePeerPatterns(patterns: readonly string[]): RegExp[] {
  return patterns.map((p) => new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i'));
}

/** Current time in microseconds since the epoch, from a monotonic clock anchored once. */
const originUs = Math.round(performance.timeOrigin * 1000);
export function nowMicros(): number {
  return originUs + Math.round(performance.now() * 1000);
}

/**
 * Node's `handshakeTimeout` is an idle timer that every byte resets: a client that dribbles its
 * ClientHello a byte a second never trips it (slowloris). The listener adds an absolute deadline on
 * the raw TCP socket, from accept to the end of the handshake. The TLS socket reaches its raw
 * socket through `_parent` (Node internal, present since v0.11); without it only Node's timer applies.
 */
const kHandshakeTimer = Symbol('handshakeTimer');
const kHandshakeExpired = Symbol('handshakeExpired');
const kEvicted = Symbol('evicted');
interface RawSocket extends Socket {
  [kHandshakeTimer]?: NodeJS.Timeout;
  [kHandshakeExpired]?: boolean;
  [kEvicted]?: boolean;
}
function rawOf(socket: tls.TLSSocket): RawSocket | undefined {
  return (socket as unknown as { _parent?: RawSocket })._parent;
}

interface OpenConnection {
  readonly peer: PeerIdentity;
  readonly cert: X509Certificate | undefined;
  close(reason: string): void;
}

export class Listener {
  readonly #o: ListenerOptions;
  readonly #server: tls.Server;
  /** With --proxy-protocol, the TCP server that accepts and reads the header before TLS. */
  readonly #front: ProxyFront | undefined;
  /** Accepted connections, with what a reload needs to re-check them. */
  readonly #sockets = new Map<tls.TLSSocket, OpenConnection>();
  /** Accepted TCP connections still in their TLS handshake, oldest first. */
  readonly #handshaking = new Set<RawSocket>();
  /** Sockets paused by their peer's rate limit, resumed by their own timer. */
  readonly #throttled = new Set<tls.TLSSocket>();
  /** Sockets their protocol session holds (too much unacknowledged). */
  readonly #held = new Set<tls.TLSSocket>();
  /** Sockets paused until the event loop turns (a connection's frames took over TURN_BUDGET_MS). */
  readonly #yielding = new Set<tls.TLSSocket>();
  readonly #perPeer = new Map<string, number>();
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #refusalLog: RateLimitedLog;
  #serverNames: string[];
  #allow: RegExp[];
  #paused = false;
  #closing = false;

  constructor(options: ListenerOptions) {
    this.#o = options;
    this.#allow = compilePeerPatterns(options.allowPeers);
    this.#refusalLog = new RateLimitedLog(options.log);
    this.#serverNames = serverDnsNames(options.tls.cert);
    this.#server = tls.createServer({
      ...this.#secureOptions(options.tls),
      requestCert: true,
      rejectUnauthorized: false,
      handshakeTimeout: options.handshakeTimeoutMs,
    });
    // --max-connections is enforced here, not with net.Server#maxConnections (which refuses the
    // newcomer): while the limit is reached, a new connection evicts the oldest one still in its
    // handshake. A flood of connections that never handshake then cannot lock out a real client,
    // whose handshake takes milliseconds; only authenticated connections can fill the server.
    this.#server.on('connection', (raw: RawSocket) => {
      if (this.#handshaking.size + this.#sockets.size >= options.maxConnections) {
        const oldest = this.#handshaking.values().next().value;
        if (oldest === undefined) {
          this.#refuse('connection_limit', { address: raw.remoteAddress, open: this.#sockets.size });
          raw.destroy();
          return;
        }
        this.#handshaking.delete(oldest);
        clearTimeout(oldest[kHandshakeTimer]);
        oldest[kEvicted] = true;
        oldest.destroy();
      }
      this.#handshaking.add(raw);
      const timer = setTimeout(() => {
        this.#handshaking.delete(raw);
        raw[kHandshakeExpired] = true;
        raw.destroy();
      }, options.handshakeTimeoutMs);
      timer.unref();
      raw[kHandshakeTimer] = timer;
    });
    this.#server.on('secureConnection', (socket) => {
      const raw = rawOf(socket);
      if (raw) {
        clearTimeout(raw[kHandshakeTimer]);
        this.#handshaking.delete(raw);
      }
      this.#onConnection(socket);
    });
    this.#server.on('tlsClientError', (err, socket) => {
      const raw = rawOf(socket);
      if (raw) {
        clearTimeout(raw[kHandshakeTimer]);
        this.#handshaking.delete(raw);
      }
      // Destroying the raw socket ends the handshake but not the TLS socket holding the fd.
      socket.destroy();
      const alert = clientAlertName(err);
      if (alert !== undefined && !raw?.[kEvicted] && !raw?.[kHandshakeExpired]) {
        this.#clientRefused('client_alert', { address: socket.remoteAddress, alert }, CERTIFICATE_ALERTS.has(alert));
        return;
      }
      const reason = raw?.[kEvicted] ? 'connection_limit' : raw?.[kHandshakeExpired] ? 'handshake_timeout' : refusalReason(err);
      this.#refuse(reason, { address: socket.remoteAddress, err: reason === 'connection_limit' ? 'evicted during its handshake' : err.message });
    });
    this.#server.on('error', (err) => options.log.error({ err: err.message }, 'listener error'));
    this.#front = options.proxy
      ? new ProxyFront({ ...options.proxy, metrics: options.metrics, log: options.log, maxPending: options.maxConnections, handOver: (raw) => this.#server.emit('connection', raw) })
      : undefined;
    this.#front?.server.on('error', (err) => options.log.error({ err: err.message }, 'listener error'));
  }

  /** The server that accepts TCP connections: the PROXY stage when configured, else the TLS server. */
  get #acceptor(): NetServer {
    return this.#front?.server ?? this.#server;
  }

  /**
   * Everything the secure context needs, for createServer and for every reload alike:
   * Server#setSecureContext resets whatever it is not given, and a reload that dropped
   * SSL_OP_NO_TICKET turned session tickets on (measured: resumed sessions after a SIGHUP).
   */
  #secureOptions(m: TlsMaterial): tls.SecureContextOptions {
    return {
      cert: m.cert,
      key: m.key,
      ca: m.ca,
      ...(m.crl ? { crl: m.crl } : {}),
      minVersion: 'TLSv1.2',
      // No session resumption: every connection proves its certificate against the current CA/CRL.
      // (TLS 1.3 then gets stateful tickets, which Node's server, having no session cache, never resumes.)
      secureOptions: cryptoConstants.SSL_OP_NO_TICKET,
    };
  }

  /** Resolves with the bound address once listening. */
  async listen(): Promise<AddressInfo> {
    const acceptor = this.#acceptor;
    await new Promise<void>((res, reject) => {
      acceptor.once('error', reject);
      acceptor.listen(this.#o.port, this.#o.host, () => {
        acceptor.off('error', reject);
        res();
      });
    });
    return acceptor.address() as AddressInfo;
  }

  /**
   * New TLS material and allowlist for new connections. Open connections are kept, except those
   * whose certificate the new CRL revokes or the new allowlist no longer names: those are closed
   * (counted in connections_closed_total by reason). Returns how many were closed.
   */
  reload(material: TlsMaterial, allowPeers: readonly string[]): number {
    this.#server.setSecureContext(this.#secureOptions(material));
    this.#serverNames = serverDnsNames(material.cert);
    this.#allow = compilePeerPatterns(allowPeers);
    let closed = 0;
    for (const [, c] of this.#sockets) {
      const reason = c.cert && isRevoked(material, c.cert) ? 'revoked' : !this.#allowed(c.peer) ? 'peer_not_allowed' : undefined;
      if (!reason) continue;
      this.#o.log.warn({ peer: c.peer.cn, address: c.peer.address, reason }, 'reload: closed an open connection whose certificate is no longer accepted');
      c.close(reason);
      closed++;
    }
    return closed;
  }

  #allowed(peer: PeerIdentity): boolean {
    return this.#allow.length === 0 || peerNames(peer).some((n) => this.#allow.some((re) => re.test(n)));
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /** Backpressure: stop reading from every socket. */
  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    for (const s of this.#sockets.keys()) s.pause();
    this.#o.metrics.backpressureActive.set(1);
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    for (const s of this.#sockets.keys()) if (this.#mayRead(s)) s.resume();
    this.#o.metrics.backpressureActive.set(0);
  }

  /** The one check before a socket reads again: nothing (backpressure, rate, session, turn) holds it. */
  #mayRead(s: tls.TLSSocket): boolean {
    return !this.#paused && !this.#throttled.has(s) && !this.#held.has(s) && !this.#yielding.has(s) && !s.destroyed;
  }

  /** Stops accepting connections (open ones stay). */
  stopAccepting(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#acceptor.close();
    this.#front?.destroyPending();
  }

  /**
   * Stops accepting, tells every peer we are done (FIN), keeps reading what they already sent for
   * up to `graceMs`, then closes what is left. Frames read meanwhile still reach `onFrames`.
   */
  async close(graceMs: number): Promise<void> {
    const closed = this.#closing ? Promise.resolve() : new Promise<void>((res) => this.#acceptor.close(() => res()));
    this.#closing = true;
    this.#front?.destroyPending();
    for (const s of this.#sockets.keys()) s.end();
    const deadline = Date.now() + graceMs;
    while (this.#sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const s of this.#sockets.keys()) {
      this.#o.metrics.connectionsClosed.inc({ reason: 'shutdown' });
      s.destroy();
    }
    await closed;
  }

  /** The client refused this server (an alert, or a silent close right after the handshake): warn with a hint. */
  #clientRefused(reason: 'client_alert' | 'client_closed_after_handshake', fields: Record<string, unknown>, certificate: boolean): void {
    this.#o.metrics.tlsRefusals.inc({ reason });
    const what = reason === 'client_alert' ? `the client aborted the TLS handshake with the alert ${String(fields.alert)}` : 'the client closed the connection right after the TLS handshake without sending anything';
    const hint = certificate ? rejectedCertificateHint(this.#serverNames, reason === 'client_closed_after_handshake') : undefined;
    this.#refusalLog.warn(reason, { ...fields, ...(hint ? { hint } : {}) }, hint ? `${what}: ${hint}` : what);
  }

  #refuse(reason: RefusalReason, fields: Record<string, unknown>): void {
    this.#o.metrics.tlsRefusals.inc({ reason });
    this.#refusalLog.warn(reason, fields, 'connection refused');
  }

  #onConnection(socket: tls.TLSSocket): void {
    // Behind a balancer (PROXY protocol), the client's address from the header, not the balancer's.
    const origin = this.#front?.origin(rawOf(socket));
    const address = origin?.address ?? socket.remoteAddress;
    const cert = socket.getPeerCertificate();
    if (!cert || Object.keys(cert).length === 0) {
      this.#refuse('no_certificate', { address });
      socket.destroy();
      return;
    }
    if (!socket.authorized) {
      this.#refuse(refusalReason(socket.authorizationError), { address, subject: cert.subject?.CN, err: String(socket.authorizationError) });
      socket.destroy();
      return;
    }
    if (socket.isSessionReused()) {
      // Never expected (no tickets, no session cache): a resumed session skips certificate
      // verification, so a certificate revoked since would not be checked against today's CRL.
      this.#refuse('bad_certificate', { address, subject: cert.subject?.CN, err: 'resumed TLS session: certificate not verified in this handshake' });
      socket.destroy();
      return;
    }
    // The transport is recorded once per connection (ledger_connections.transport): RELP when a protocol session runs on it.
    const peer: PeerIdentity = { ...identityOf(cert, address, origin?.port ?? socket.remotePort), transport: this.#o.session ? 'relp' : 'tls' };
    if (!this.#allowed(peer)) {
      this.#refuse('peer_not_allowed', { address, cn: peer.cn, sans: peer.sans });
      socket.destroy();
      return;
    }
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const key = peer.cn ?? peer.fingerprint;
    const open = this.#perPeer.get(key) ?? 0;
    if (open >= this.#o.maxConnectionsPerPeer) {
      this.#refuse('connection_limit', { address, cn: peer.cn, open });
      socket.destroy();
      return;
    }
    this.#perPeer.set(key, open + 1);
    let bucket: TokenBucket | undefined;
    if (this.#o.ratePerPeer > 0) {
      bucket = this.#buckets.get(key);
      if (!bucket) {
        if (this.#buckets.size > 100_000) this.#buckets.clear();
        bucket = new TokenBucket(this.#o.ratePerPeer, this.#o.burstPerPeer);
        this.#buckets.set(key, bucket);
      }
    }

    const m = this.#o.metrics;
    const connectedAt = Date.now();
    let received = 0;
    let clientAlert: string | undefined;
    let closeReason = 'peer_end';
    m.connectionsAccepted.inc();
    m.connectionsOpen.inc();
    this.#sockets.set(socket, {
      peer,
      cert: socket.getPeerX509Certificate(),
      close: (reason) => {
        closeReason = reason;
        socket.destroy();
      },
    });
    this.#o.log.info({ peer: peer.cn, address: peer.address }, 'peer connected');
    const onFrames = this.#o.onFrames ?? (() => {});
    const startSession = this.#o.session ?? ((_io: ConnectionIo, p: PeerIdentity) => framedSyslog(this.#o.maxFrameBytes, p, onFrames));
    const handler = startSession(
      {
        write: (text) => {
          if (socket.writable) socket.write(text);
        },
        end: () => socket.end(),
        destroy: () => {
          closeReason = 'protocol_violation';
          socket.destroy();
        },
        hold: (on) => {
          if (on) {
            this.#held.add(socket);
            socket.pause();
          } else {
            this.#held.delete(socket);
            if (this.#mayRead(socket)) socket.resume();
          }
        },
      },
      peer,
    );

    socket.setTimeout(this.#o.idleTimeoutMs);
    socket.on('timeout', () => {
      closeReason = 'idle_timeout';
      socket.destroy();
    });
    // Work spent on this connection's frames since the event loop last turned (see #yieldTurn).
    let spentMs = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      m.bytesReceived.inc(chunk.length);
      const t0 = performance.now();
      const count = handler.onData(chunk, nowMicros());
      spentMs += performance.now() - t0;
      if (spentMs > TURN_BUDGET_MS && !this.#yielding.has(socket)) {
        // libuv reads up to 32 times from one socket before it looks at anything else: with large
        // frames that held every other connection, the writer and /healthz for 100+ ms. Let the
        // loop turn, then read on.
        this.#yielding.add(socket);
        socket.pause();
        setImmediate(() => {
          spentMs = 0;
          this.#yielding.delete(socket);
          if (this.#mayRead(socket)) socket.resume();
        });
      }
      const waitMs = count > 0 ? (bucket?.take(count) ?? 0) : 0;
      if (waitMs > 0 && !this.#throttled.has(socket)) {
        // Over its rate: stop reading this peer until it has earned the events it sent.
        this.#o.metrics.peerThrottled.inc();
        this.#throttled.add(socket);
        socket.pause();
        setTimeout(() => {
          this.#throttled.delete(socket);
          if (this.#mayRead(socket)) socket.resume();
        }, waitMs).unref();
      }
    });
    socket.on('error', (err) => {
      closeReason = 'error';
      clientAlert = clientAlertName(err);
      this.#o.log.debug({ peer: peer.cn, err: err.message }, 'connection error');
    });
    socket.on('close', () => {
      handler.onClose();
      this.#sockets.delete(socket);
      this.#throttled.delete(socket);
      this.#held.delete(socket);
      this.#yielding.delete(socket);
      const left = (this.#perPeer.get(key) ?? 1) - 1;
      if (left > 0) this.#perPeer.set(key, left);
      else this.#perPeer.delete(key);
      m.connectionsOpen.dec();
      m.connectionsClosed.inc({ reason: closeReason });
      this.#o.log.info({ peer: peer.cn, address: peer.address, reason: closeReason }, 'peer disconnected');
      // rsyslog checks the server's name (x509/name) only after the handshake, and on a mismatch
      // closes without a byte or an alert: the only trace the server sees.
      if (received === 0 && !this.#closing && (clientAlert !== undefined || (closeReason === 'peer_end' && Date.now() - connectedAt < SILENT_CLOSE_MS))) {
        if (clientAlert !== undefined) this.#clientRefused('client_alert', { address: peer.address, cn: peer.cn, alert: clientAlert }, CERTIFICATE_ALERTS.has(clientAlert));
        else this.#clientRefused('client_closed_after_handshake', { address: peer.address, cn: peer.cn }, true);
      }
    });
    if (this.#paused) socket.pause();
  }
}
