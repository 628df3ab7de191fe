/**
 * Who is at the console. Two ways in, never neither:
 * - a token (loopback consoles): `GET /login?token=...` checks it in constant time and sets a
 *   session cookie (HttpOnly, SameSite=Strict, Path=/; Secure over HTTPS) holding a random session
 *   id; sessions live in memory for 12 h (a restart logs everyone out);
 * - a client certificate (HTTPS consoles): verified by TLS against serve's CA (and CRL), and its CN
 *   or a SAN must match `--console-allow`.
 * Forms that POST carry a CSRF token bound to the session (client certificates are sent
 * cross-site by browsers, so SameSite alone does not protect them).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { compilePeerPatterns } from '../listener/server.js';
import { identityOf, peerNames } from '../listener/identity.js';

export const COOKIE = 'sl_console';
const SESSION_MS = 12 * 3600 * 1000;

/** An authenticated console user. */
export interface Principal {
  /** How they proved who they are. */
  readonly auth: 'token' | 'certificate';
  /** For the access records and the page: `token` or the certificate's CN (else first SAN). */
  readonly name: string;
  /** A stable key of the session (the session id, or the certificate fingerprint). */
  readonly key: string;
  readonly remote: string;
}

export class ConsoleAuth {
  readonly #token: Buffer;
  readonly #allow: RegExp[];
  readonly #sessions = new Map<string, number>();
  readonly #csrfKey = randomBytes(32);

  constructor(token: string, allow: readonly string[]) {
    this.#token = Buffer.from(token);
    this.#allow = compilePeerPatterns(allow);
  }

  get certificates(): boolean {
    return this.#allow.length > 0;
  }

  /** Whether `given` is the token (constant time). */
  tokenMatches(given: string): boolean {
    const g = Buffer.from(given);
    return g.length === this.#token.length && timingSafeEqual(g, this.#token);
  }

  /** A new session; returns the Set-Cookie value. */
  startSession(secure: boolean): string {
    const id = randomBytes(32).toString('base64url');
    const now = Date.now();
    for (const [k, exp] of this.#sessions) if (exp < now) this.#sessions.delete(k);
    this.#sessions.set(id, now + SESSION_MS);
    return `${COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_MS / 1000}${secure ? '; Secure' : ''}`;
  }

  endSession(req: IncomingMessage): string {
    const id = cookie(req, COOKIE);
    if (id !== undefined) this.#sessions.delete(id);
    return `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
  }

  /** The principal of a request, or undefined (401). */
  principal(req: IncomingMessage): Principal | undefined {
    const remote = req.socket.remoteAddress ?? '';
    if (this.certificates) {
      const sock = req.socket as TLSSocket;
      if (!sock.authorized) return undefined;
      const cert = sock.getPeerCertificate();
      if (cert === null || cert.raw === undefined) return undefined;
      const id = identityOf(cert, sock.remoteAddress, sock.remotePort);
      const names = peerNames(id);
      if (!names.some((n) => this.#allow.some((re) => re.test(n)))) return undefined;
      return { auth: 'certificate', name: names[0] ?? id.subject, key: id.fingerprint, remote };
    }
    const id = cookie(req, COOKIE);
    if (id === undefined) return undefined;
    const exp = this.#sessions.get(id);
    if (exp === undefined || exp < Date.now()) return undefined;
    return { auth: 'token', name: 'token', key: id, remote };
  }

  /** The CSRF token of a principal's forms. */
  csrf(p: Principal): string {
    return createHmac('sha256', this.#csrfKey).update(p.key).digest('base64url');
  }

  csrfMatches(p: Principal, given: string | undefined): boolean {
    if (given === undefined) return false;
    const a = Buffer.from(this.csrf(p));
    const b = Buffer.from(given);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}

/** One cookie's value. */
export function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}
