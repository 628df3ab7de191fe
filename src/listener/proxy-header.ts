/**
 * PROXY protocol header parser, versions 1 (text) and 2 (binary): HAProxy's
 * doc/proxy-protocol.txt, sections 2.1 (v1) and 2.2 (v2, TLVs in 2.2.7).
 *
 * An explicit state machine fed chunk by chunk (a byte at a time works): it reads exactly the
 * header and hands back whatever came after it (the start of the TLS handshake) untouched. The
 * receiver enables one version by configuration and never auto-detects (section 5), so a parser
 * expects one version; any other first bytes are a refusal with a reason.
 */
import { isIPv6 } from 'node:net';

/** v2 signature (section 2.2): `\r\n\r\n\0\r\nQUIT\n`. */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** Section 2.1: the longest v1 line, CRLF included. */
export const V1_MAX_BYTES = 107;
/**
 * Our cap on a v2 header (16 bytes + addresses + TLVs). IPv6 is 52 bytes; AWS NLB and HAProxy TLVs
 * (ALPN, authority, SSL, unique id up to 128 bytes) stay well under it.
 */
export const V2_DEFAULT_MAX_BYTES = 1024;

export const PROXY_VERSIONS = ['v1', 'v2'] as const;
export type ProxyVersion = (typeof PROXY_VERSIONS)[number];

/** Why a connection was refused before TLS (metric label values). */
export const PROXY_REFUSAL_REASONS = [
  'untrusted', // a PROXY header from a source not in --trusted-proxy
  'missing', // a trusted source sent something else (a TLS ClientHello) first
  'wrong_version', // the other version's header
  'malformed',
  'truncated', // closed in the middle of the header
  'timeout', // the header did not arrive within the deadline
  'oversized',
  'connection_limit',
] as const;
export type ProxyRefusalReason = (typeof PROXY_REFUSAL_REASONS)[number];

/** A TLV of a v2 header (section 2.2.7). */
export interface ProxyTlv {
  readonly type: number;
  readonly value: Buffer;
}

export interface ProxyHeader {
  readonly version: ProxyVersion;
  /** LOCAL (v2 command 0): the balancer's own connection (health check); v1 `UNKNOWN` is also local. */
  readonly command: 'proxy' | 'local';
  /** The client's address and port; absent for LOCAL, UNKNOWN, AF_UNSPEC and AF_UNIX. */
  readonly source?: { readonly address: string; readonly port: number };
  readonly destination?: { readonly address: string; readonly port: number };
  readonly tlvs: readonly ProxyTlv[];
  /** Header bytes consumed. */
  readonly length: number;
}

export type ProxyParseResult =
  | { readonly state: 'more' }
  | { readonly state: 'done'; readonly header: ProxyHeader; readonly rest: Buffer }
  | { readonly state: 'error'; readonly reason: ProxyRefusalReason; readonly detail: string };

const MORE = { state: 'more' } as const;

function fail(reason: ProxyRefusalReason, detail: string): ProxyParseResult {
  return { state: 'error', reason, detail };
}

/** What the first bytes look like when they are not the expected header. */
function strangerReason(first: number, expected: ProxyVersion): ProxyRefusalReason {
  if (first === 0x16) return 'missing'; // TLS handshake record: the balancer sent no header
  if (expected === 'v2' && first === V1_PREFIX[0]) return 'wrong_version';
  if (expected === 'v1' && first === V2_SIGNATURE[0]) return 'wrong_version';
  return 'malformed';
}

/**
 * Reads one header. `push` returns `more` until the header is complete (`done`, with the bytes
 * after it) or wrong (`error`); after either, the parser must not be fed again. `end` tells the
 * parser the peer closed: a partial header is `truncated`.
 */
export class ProxyHeaderParser {
  readonly #version: ProxyVersion;
  readonly #maxBytes: number;
  #buf: Buffer = Buffer.alloc(0);
  #finished = false;

  constructor(version: ProxyVersion, maxBytes = V2_DEFAULT_MAX_BYTES) {
    this.#version = version;
    this.#maxBytes = version === 'v1' ? V1_MAX_BYTES : Math.max(16, maxBytes);
  }

  /** Bytes received so far (0: the peer sent nothing). */
  get received(): number {
    return this.#buf.length;
  }

  push(chunk: Buffer): ProxyParseResult {
    if (this.#finished) return fail('malformed', 'parser fed after it finished');
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const r = this.#version === 'v2' ? this.#v2() : this.#v1();
    if (r.state !== 'more') this.#finished = true;
    return r;
  }

  end(): ProxyParseResult {
    this.#finished = true;
    return fail('truncated', `connection closed after ${this.#buf.length} byte(s) of the PROXY header`);
  }

  #v2(): ProxyParseResult {
    const b = this.#buf;
    // Check the signature byte by byte as it arrives: a TLS ClientHello is refused at its first byte.
    const n = Math.min(b.length, V2_SIGNATURE.length);
    for (let i = 0; i < n; i++) {
      if (b[i] !== V2_SIGNATURE[i]) {
        const reason = strangerReason(b[0]!, 'v2');
        return fail(reason, i === 0 ? `first byte 0x${b[0]!.toString(16).padStart(2, '0')} is not a PROXY v2 signature` : `PROXY v2 signature differs at byte ${i}`);
      }
    }
    if (b.length < 16) return MORE;
    const verCmd = b[12]!;
    if (verCmd >> 4 !== 2) return fail('malformed', `PROXY v2 version nibble ${verCmd >> 4}, expected 2`);
    const cmd = verCmd & 0x0f;
    if (cmd > 1) return fail('malformed', `PROXY v2 command ${cmd} is neither LOCAL (0) nor PROXY (1)`);
    const fam = b[13]!;
    const len = b.readUInt16BE(14);
    const total = 16 + len;
    if (total > this.#maxBytes) return fail('oversized', `PROXY v2 header of ${total} bytes exceeds ${this.#maxBytes}`);
    if (b.length < total) return MORE;
    const body = b.subarray(16, total);
    const rest = b.subarray(total);
    if (cmd === 0) {
      // LOCAL: "the receiver must accept this connection as valid and must use the real connection
      // endpoints and discard the protocol block including the family" (section 2.2).
      return { state: 'done', header: { version: 'v2', command: 'local', tlvs: [], length: total }, rest };
    }
    const af = fam >> 4;
    const transport = fam & 0x0f;
    if (af > 3) return fail('malformed', `PROXY v2 address family ${af} unknown`);
    if (transport > 2) return fail('malformed', `PROXY v2 transport ${transport} unknown`);
    if (af !== 0 && transport !== 1) return fail('malformed', 'PROXY v2 transport is not STREAM');
    const addrLen = af === 1 ? 12 : af === 2 ? 36 : af === 3 ? 216 : 0;
    if (len < addrLen) return fail('malformed', `PROXY v2 length ${len} is shorter than its addresses (${addrLen})`);
    const tlvs = parseTlvs(body.subarray(addrLen));
    if (typeof tlvs === 'string') return fail('malformed', tlvs);
    let source: ProxyHeader['source'];
    let destination: ProxyHeader['destination'];
    if (af === 1) {
      source = { address: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8) };
      destination = { address: [...body.subarray(4, 8)].join('.'), port: body.readUInt16BE(10) };
    } else if (af === 2) {
      source = { address: ipv6Text(body.subarray(0, 16)), port: body.readUInt16BE(32) };
      destination = { address: ipv6Text(body.subarray(16, 32)), port: body.readUInt16BE(34) };
    }
    // AF_UNSPEC and AF_UNIX carry no IP client: like LOCAL, the connection's own address stands.
    return { state: 'done', header: { version: 'v2', command: source ? 'proxy' : 'local', ...(source ? { source, destination } : {}), tlvs, length: total }, rest };
  }

  #v1(): ProxyParseResult {
    const b = this.#buf;
    const n = Math.min(b.length, V1_PREFIX.length);
    for (let i = 0; i < n; i++) {
      if (b[i] !== V1_PREFIX[i]) return fail(strangerReason(b[0]!, 'v1'), i === 0 ? `first byte 0x${b[0]!.toString(16).padStart(2, '0')} does not start "PROXY "` : `PROXY v1 prefix differs at byte ${i}`);
    }
    const lf = b.indexOf(0x0a);
    if (lf < 0) {
      if (b.length >= V1_MAX_BYTES) return fail('oversized', `no CRLF within ${V1_MAX_BYTES} bytes`);
      return MORE;
    }
    if (lf + 1 > V1_MAX_BYTES) return fail('oversized', `PROXY v1 line of ${lf + 1} bytes exceeds ${V1_MAX_BYTES}`);
    if (lf === 0 || b[lf - 1] !== 0x0d) return fail('malformed', 'PROXY v1 line does not end with CRLF');
    const line = b.subarray(0, lf - 1).toString('latin1');
    const rest = b.subarray(lf + 1);
    const parts = line.split(' ');
    if (parts[1] === 'UNKNOWN') return { state: 'done', header: { version: 'v1', command: 'local', tlvs: [], length: lf + 1 }, rest };
    if (parts.length !== 6) return fail('malformed', `PROXY v1 line has ${parts.length} fields, expected 6`);
    const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
    const family = proto === 'TCP4' ? 4 : proto === 'TCP6' ? 6 : 0;
    if (family === 0) return fail('malformed', `PROXY v1 protocol "${proto.slice(0, 16)}" is not TCP4, TCP6 or UNKNOWN`);
    if (ipFamily(src) !== family || ipFamily(dst) !== family) return fail('malformed', `PROXY v1 addresses are not ${proto}`);
    const sp = port(sport);
    const dp = port(dport);
    if (sp === undefined || dp === undefined) return fail('malformed', 'PROXY v1 port is not a number 0-65535');
    return { state: 'done', header: { version: 'v1', command: 'proxy', source: { address: src, port: sp }, destination: { address: dst, port: dp }, tlvs: [], length: lf + 1 }, rest };
  }
}

/** Section 2.2.7: type (1 byte), length (2 bytes, big-endian), value; they must fill the rest exactly. */
function parseTlvs(b: Buffer): ProxyTlv[] | string {
  const out: ProxyTlv[] = [];
  let i = 0;
  while (i < b.length) {
    if (b.length - i < 3) return `PROXY v2 TLV header cut at offset ${i}`;
    const type = b[i]!;
    const len = b.readUInt16BE(i + 1);
    if (i + 3 + len > b.length) return `PROXY v2 TLV 0x${type.toString(16)} of ${len} bytes overruns the header`;
    out.push({ type, value: b.subarray(i + 3, i + 3 + len) });
    i += 3 + len;
  }
  return out;
}

function ipv6Text(b: Buffer): string {
  // An IPv4-mapped address (::ffff:a.b.c.d) is the IPv4 client it stands for.
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return [...b.subarray(12, 16)].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Compress the longest run of zero groups (RFC 5952 section 4.2).
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestAt < 0) return groups.join(':');
  return `${groups.slice(0, bestAt).join(':')}::${groups.slice(bestAt + bestLen).join(':')}`;
}

/** 4, 6, or 0 for neither; v1 addresses are written plainly (no zone, no brackets). */
function ipFamily(s: string): number {
  if (/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(s)) return 4;
  if (/^[0-9a-fA-F:.]{2,45}$/.test(s) && s.includes(':') && isIPv6(s)) return 6;
  return 0;
}


function port(s: string): number | undefined {
  if (!/^(0|[1-9]\d{0,4})$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}
