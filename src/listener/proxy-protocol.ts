/**
 * The PROXY protocol stage in front of a TLS listener (`--proxy-protocol v1|v2`, `--trusted-proxy`).
 *
 * A plain TCP server accepts; from a trusted balancer it reads the PROXY header (proxy-header.ts),
 * before TLS, within a deadline; then it puts back whatever followed the header and hands the raw
 * socket to the TLS server (`tlsServer.emit('connection', socket)`, documented in Node's tls.md for
 * injecting connections). TLS and the client certificate still end here. The client's address from
 * the header is kept per raw socket for the listener's peer identity (`origin`).
 *
 * Never auto-detected (proxy-protocol.txt section 5): a trusted source must send the configured
 * header; an untrusted one may connect directly (TLS), and a PROXY header from it is refused.
 * Health checks (a LOCAL header then close, or a connect-and-close) are counted as such, not as
 * TLS failures. Research and pitfalls: ../shared/research/scale-out.md section 1.
 */
import { BlockList, createServer, isIPv4, isIPv6, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { ConfigError } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';
import { ProxyHeaderParser, V2_SIGNATURE, type ProxyParseResult, type ProxyRefusalReason, type ProxyVersion } from './proxy-header.js';
import { RateLimitedLog } from './ratelimit-log.js';

export interface ProxyProtocolOptions {
  readonly version: ProxyVersion;
  /** CIDRs (`10.0.0.0/8`, `::1/128`, or a bare address) of the balancers whose headers are believed. */
  readonly trustedProxies: readonly string[];
  /** The header must arrive within this long (default 5 s). */
  readonly headerTimeoutMs?: number;
}

/** Where the client really is, from the header. */
export interface ProxiedOrigin {
  readonly address: string;
  readonly port: number;
}

/** `--trusted-proxy` values to a BlockList; a bad one is a ConfigError. */
export function trustedProxyList(cidrs: readonly string[], option = '--trusted-proxy'): BlockList {
  const list = new BlockList();
  for (const raw of cidrs) {
    const [addr = '', bits] = raw.trim().split('/');
    const family = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : undefined;
    if (!family) throw new ConfigError(option, `expects an address or CIDR (10.0.0.0/8, ::1/128), got "${raw}"`);
    const max = family === 'ipv4' ? 32 : 128;
    const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
    if (!(prefix >= 0 && prefix <= max)) throw new ConfigError(option, `prefix length must be 0-${max}, got "${raw}"`);
    list.addSubnet(addr, prefix, family);
  }
  return list;
}

/** An IPv4-mapped IPv6 peer (dual-stack listener) is the IPv4 address it stands for. */
function plainAddress(address: string | undefined): string {
  if (!address) return '';
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

function isTrusted(list: BlockList, address: string): boolean {
  if (isIPv4(address)) return list.check(address, 'ipv4');
  if (isIPv6(address)) return list.check(address, 'ipv6');
  return false;
}

const DEFAULT_HEADER_TIMEOUT_MS = 5000;
/** `P` of `PROXY `; a TLS record starts with 0x16, a v2 header with 0x0D. */
const V1_FIRST_BYTE = 0x50;

export interface ProxyFrontOptions extends ProxyProtocolOptions {
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Connections at once in this stage; over it the newcomer is refused (connection_limit). */
  readonly maxPending: number;
  /** Hands a raw socket, header consumed and the bytes after it put back, to the TLS server. */
  readonly handOver: (socket: Socket) => void;
}

export class ProxyFront {
  readonly server: Server;
  readonly #o: ProxyFrontOptions;
  readonly #trusted: BlockList;
  readonly #origins = new WeakMap<Socket, ProxiedOrigin>();
  readonly #pending = new Set<Socket>();
  readonly #refusalLog: RateLimitedLog;

  constructor(o: ProxyFrontOptions) {
    this.#o = o;
    this.#trusted = trustedProxyList(o.trustedProxies);
    this.#refusalLog = new RateLimitedLog(o.log);
    this.server = createServer({ pauseOnConnect: true }, (socket) => this.#accept(socket));
  }

  /** The client's address from the header this raw socket carried, if it carried one. */
  origin(raw: Socket | undefined): ProxiedOrigin | undefined {
    return raw ? this.#origins.get(raw) : undefined;
  }

  /** Connections still in this stage are closed (shutdown). */
  destroyPending(): void {
    for (const s of this.#pending) s.destroy();
    this.#pending.clear();
  }

  #refuse(socket: Socket, reason: ProxyRefusalReason, fields: Record<string, unknown>): void {
    this.#o.metrics.proxyRefusals.inc({ reason });
    this.#refusalLog.warn(`proxy_${reason}`, { address: plainAddress(socket.remoteAddress), ...fields }, 'connection refused before TLS (PROXY protocol)');
    socket.destroy();
  }

  #accept(socket: Socket): void {
    if (socket.remoteAddress === undefined) {
      // Reset before we could ask who it was (a balancer's connection whose client left at once).
      this.#o.metrics.proxyHealthChecks.inc({ kind: 'empty' });
      socket.destroy();
      return;
    }
    const address = plainAddress(socket.remoteAddress);
    if (this.#pending.size >= this.#o.maxPending) {
      this.#refuse(socket, 'connection_limit', { pending: this.#pending.size });
      return;
    }
    const trusted = isTrusted(this.#trusted, address);
    const parser = trusted ? new ProxyHeaderParser(this.#o.version) : undefined;
    this.#pending.add(socket);
    let done = false;
    const finish = (): void => {
      done = true;
      this.#pending.delete(socket);
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const timer = setTimeout(() => {
      if (done) return;
      finish();
      if (parser && parser.received > 0) this.#refuse(socket, 'timeout', { received: parser.received, err: 'PROXY header not complete in time' });
      else if (parser) this.#refuse(socket, 'timeout', { received: 0, err: 'no PROXY header from a trusted proxy' });
      else this.#refuse(socket, 'timeout', { received: 0, err: 'a direct client sent nothing' });
    }, this.#o.headerTimeoutMs ?? DEFAULT_HEADER_TIMEOUT_MS);
    timer.unref();
    // Header read: hand over once the first TLS byte is here. A LOCAL header (the balancer's own
    // connection) then close is a health check; a client that left the balancer before sending a
    // byte is a connect-and-close: neither is a TLS failure.
    let header: 'local' | 'proxy' | undefined;
    const handOver = (rest: Buffer | null): void => {
      finish();
      if (rest && rest.length > 0) socket.unshift(rest);
      // Never touch the raw socket's flow again (resume() here stalled the handshake: research §1).
      this.#o.handOver(socket);
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (!done && (chunk = socket.read() as Buffer | null) !== null) {
        if (!parser || header) {
          // Untrusted: a direct TLS client is fine, a PROXY header is not believed.
          if (!parser && (chunk[0] === V2_SIGNATURE[0] || chunk[0] === V1_FIRST_BYTE)) {
            finish();
            this.#refuse(socket, 'untrusted', { err: 'PROXY header from a source not in --trusted-proxy' });
            return;
          }
          handOver(chunk);
          return;
        }
        const r: ProxyParseResult = parser.push(chunk);
        if (r.state === 'more') continue;
        if (r.state === 'error') {
          finish();
          this.#refuse(socket, r.reason, { err: r.detail });
          return;
        }
        header = r.header.command;
        if (r.header.command === 'local') this.#o.metrics.proxyHealthChecks.inc({ kind: 'local' });
        else this.#origins.set(socket, r.header.source!);
        if (r.rest.length > 0) {
          handOver(r.rest);
          return;
        }
      }
    };
    const onEnd = (): void => {
      if (done) return;
      finish();
      if (header === 'local') {
        // LOCAL then close: a balancer health check, already counted.
      } else if (!parser || parser.received === 0 || header === 'proxy') {
        this.#o.metrics.proxyHealthChecks.inc({ kind: 'empty' });
      } else {
        const r = parser.end();
        if (r.state === 'error') this.#refuse(socket, r.reason, { err: r.detail });
      }
      socket.destroy();
    };
    const onError = (err: Error): void => {
      if (done) return;
      finish();
      this.#o.log.debug({ address, err: err.message }, 'connection error before TLS');
      socket.destroy();
    };
    const onClose = (): void => {
      if (!done) onEnd();
    };
    socket.on('readable', onReadable);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
  }
}
