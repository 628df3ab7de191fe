import { describe, expect, it } from 'vitest';
import { ProxyHeaderParser, V2_SIGNATURE, type ProxyParseResult, type ProxyVersion } from '../../src/listener/proxy-header.js';

/** Feeds the input whole and one byte at a time (nats.js's byByteTest); both must agree. */
function parse(version: ProxyVersion, input: Buffer, close = false): ProxyParseResult {
  const run = (chunks: Buffer[]): ProxyParseResult => {
    const p = new ProxyHeaderParser(version);
    let r: ProxyParseResult = { state: 'more' };
    for (const c of chunks) {
      r = p.push(c);
      if (r.state !== 'more') return r;
    }
    return close ? p.end() : r;
  };
  const whole = run([input]);
  const bytes = run([...input].map((b) => Buffer.from([b])));
  // Byte at a time, `rest` is whatever came in the chunk that completed the header: at most that byte.
  if (whole.state === 'done' && bytes.state === 'done') {
    expect(bytes.header).toEqual(whole.header);
    expect(bytes.rest.length).toBe(0);
  } else {
    expect(bytes).toEqual(whole);
  }
  return whole;
}

function v2(cmd: number, fam: number, body: Buffer): Buffer {
  const h = Buffer.alloc(16);
  V2_SIGNATURE.copy(h);
  h[12] = 0x20 | cmd;
  h[13] = fam;
  h.writeUInt16BE(body.length, 14);
  return Buffer.concat([h, body]);
}

function ipv4Body(src: number[], dst: number[], sport: number, dport: number): Buffer {
  const b = Buffer.alloc(12);
  Buffer.from(src).copy(b, 0);
  Buffer.from(dst).copy(b, 4);
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return b;
}

function tlv(type: number, value: Buffer): Buffer {
  const h = Buffer.alloc(3);
  h[0] = type;
  h.writeUInt16BE(value.length, 1);
  return Buffer.concat([h, value]);
}

const CLIENT_HELLO_START = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]);

describe('PROXY v2 header', () => {
  it('TCP4: the client address and port, and the bytes after the header untouched', () => {
    const r = parse('v2', Buffer.concat([v2(1, 0x11, ipv4Body([192, 0, 2, 7], [10, 0, 0, 1], 51234, 6514)), CLIENT_HELLO_START]));
    expect(r.state).toBe('done');
    if (r.state !== 'done') return;
    expect(r.header).toMatchObject({ version: 'v2', command: 'proxy', source: { address: '192.0.2.7', port: 51234 }, destination: { address: '10.0.0.1', port: 6514 }, length: 28 });
    expect(r.rest).toEqual(CLIENT_HELLO_START);
  });

  it('TCP6: addresses in RFC 5952 text; an IPv4-mapped client is its IPv4 address', () => {
    const body = Buffer.alloc(36);
    Buffer.from('20010db8000000000000000000000042', 'hex').copy(body, 0);
    Buffer.from('00000000000000000000ffffc0000207', 'hex').copy(body, 16);
    body.writeUInt16BE(40000, 32);
    body.writeUInt16BE(2514, 34);
    const r = parse('v2', v2(1, 0x21, body));
    expect(r.state).toBe('done');
    if (r.state !== 'done') return;
    expect(r.header.source).toEqual({ address: '2001:db8::42', port: 40000 });
    expect(r.header.destination).toEqual({ address: '192.0.2.7', port: 2514 });
    expect(r.header.length).toBe(52);
  });

  it('TLVs (ALPN, authority, unique id, a custom one) are read and returned', () => {
    const tlvs = Buffer.concat([tlv(0x01, Buffer.from('h2')), tlv(0x02, Buffer.from('logs.example.com')), tlv(0x05, Buffer.alloc(128, 7)), tlv(0xe0, Buffer.alloc(0))]);
    const r = parse('v2', v2(1, 0x11, Buffer.concat([ipv4Body([127, 0, 0, 1], [127, 0, 0, 1], 1, 2), tlvs])));
    expect(r.state).toBe('done');
    if (r.state !== 'done') return;
    expect(r.header.tlvs.map((t) => [t.type, t.value.length])).toEqual([[1, 2], [2, 16], [5, 128], [0xe0, 0]]);
    expect(r.header.tlvs[1]!.value.toString()).toBe('logs.example.com');
  });

  it('LOCAL (HAProxy health check): done, no address, whatever the family and length say', () => {
    const r = parse('v2', v2(0, 0x00, Buffer.alloc(0)));
    expect(r).toMatchObject({ state: 'done', header: { command: 'local', length: 16 } });
    const withBody = parse('v2', v2(0, 0x11, ipv4Body([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)));
    expect(withBody).toMatchObject({ state: 'done', header: { command: 'local', length: 28 } });
    if (withBody.state === 'done') expect(withBody.header.source).toBeUndefined();
  });

  it('AF_UNSPEC with PROXY: no address (the connection address stands)', () => {
    expect(parse('v2', v2(1, 0x00, Buffer.alloc(0)))).toMatchObject({ state: 'done', header: { command: 'local' } });
  });

  it('truncated: a partial header then close is refused, at every cut', () => {
    const full = v2(1, 0x11, ipv4Body([192, 0, 2, 7], [10, 0, 0, 1], 1, 2));
    for (let cut = 1; cut < full.length; cut++) {
      expect(parse('v2', full.subarray(0, cut), true)).toMatchObject({ state: 'error', reason: 'truncated' });
      expect(parse('v2', full.subarray(0, cut))).toEqual({ state: 'more' });
    }
  });

  it('missing: a TLS ClientHello where the header should be is refused at its first byte', () => {
    const p = new ProxyHeaderParser('v2');
    expect(p.push(Buffer.from([0x16]))).toMatchObject({ state: 'error', reason: 'missing' });
  });

  it('wrong version: a v1 line to a v2 listener, and a v2 header to a v1 listener', () => {
    expect(parse('v2', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'))).toMatchObject({ state: 'error', reason: 'wrong_version' });
    expect(parse('v1', v2(1, 0x11, ipv4Body([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)))).toMatchObject({ state: 'error', reason: 'wrong_version' });
  });

  it('malformed: a signature that differs late, version 1 in the nibble, an unknown command, family or transport', () => {
    const bad = Buffer.from(V2_SIGNATURE);
    bad[11] = 0x0b;
    expect(parse('v2', bad)).toMatchObject({ state: 'error', reason: 'malformed' });
    const h = v2(1, 0x11, ipv4Body([1, 2, 3, 4], [5, 6, 7, 8], 1, 2));
    const ver = Buffer.from(h);
    ver[12] = 0x11;
    expect(parse('v2', ver)).toMatchObject({ state: 'error', reason: 'malformed' });
    const cmd = Buffer.from(h);
    cmd[12] = 0x22;
    expect(parse('v2', cmd)).toMatchObject({ state: 'error', reason: 'malformed' });
    expect(parse('v2', v2(1, 0x41, Buffer.alloc(12)))).toMatchObject({ state: 'error', reason: 'malformed' });
    expect(parse('v2', v2(1, 0x12, Buffer.alloc(12)))).toMatchObject({ state: 'error', reason: 'malformed' }); // DGRAM
  });

  it('malformed: a length shorter than the addresses, and a TLV that overruns the header', () => {
    expect(parse('v2', v2(1, 0x11, Buffer.alloc(8)))).toMatchObject({ state: 'error', reason: 'malformed' });
    expect(parse('v2', v2(1, 0x21, Buffer.alloc(12)))).toMatchObject({ state: 'error', reason: 'malformed' });
    const overrun = Buffer.concat([ipv4Body([1, 2, 3, 4], [5, 6, 7, 8], 1, 2), Buffer.from([0x01, 0x00, 0x09, 0x61])]);
    expect(parse('v2', v2(1, 0x11, overrun))).toMatchObject({ state: 'error', reason: 'malformed' });
    const cut = Buffer.concat([ipv4Body([1, 2, 3, 4], [5, 6, 7, 8], 1, 2), Buffer.from([0x01, 0x00])]);
    expect(parse('v2', v2(1, 0x11, cut))).toMatchObject({ state: 'error', reason: 'malformed' });
  });

  it('oversized: a length over the cap is refused from the 16-byte prefix, before the body arrives', () => {
    const h = v2(1, 0x11, Buffer.alloc(0));
    h.writeUInt16BE(60000, 14);
    expect(parse('v2', h)).toMatchObject({ state: 'error', reason: 'oversized' });
  });
});

describe('PROXY v1 header', () => {
  it('TCP4 and TCP6 lines; the bytes after CRLF are handed back', () => {
    const r4 = parse('v1', Buffer.concat([Buffer.from('PROXY TCP4 192.0.2.7 10.0.0.1 51234 6514\r\n'), CLIENT_HELLO_START]));
    expect(r4).toMatchObject({ state: 'done', header: { version: 'v1', command: 'proxy', source: { address: '192.0.2.7', port: 51234 }, destination: { address: '10.0.0.1', port: 6514 } } });
    if (r4.state === 'done') expect(r4.rest).toEqual(CLIENT_HELLO_START);
    const r6 = parse('v1', Buffer.from('PROXY TCP6 2001:db8::42 ::1 65535 0\r\n'));
    expect(r6).toMatchObject({ state: 'done', header: { source: { address: '2001:db8::42', port: 65535 }, destination: { address: '::1', port: 0 } } });
  });

  it('UNKNOWN: done, no address (the connection address stands)', () => {
    expect(parse('v1', Buffer.from('PROXY UNKNOWN\r\n'))).toMatchObject({ state: 'done', header: { command: 'local' } });
    expect(parse('v1', Buffer.from('PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n'))).toMatchObject({ state: 'done', header: { command: 'local' } });
  });

  it('malformed: bad family, addresses of the wrong family, bad ports, LF without CR, extra fields', () => {
    for (const line of [
      'PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n',
      'PROXY TCP4 ::1 5.6.7.8 1 2\r\n',
      'PROXY TCP6 1.2.3.4 ::1 1 2\r\n',
      'PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n',
      'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n',
      'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n',
      'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n',
      'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n',
      'PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n',
    ]) {
      expect(parse('v1', Buffer.from(line)), line).toMatchObject({ state: 'error', reason: 'malformed' });
    }
  });

  it('oversized: no CRLF within 107 bytes', () => {
    expect(parse('v1', Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`))).toMatchObject({ state: 'error', reason: 'oversized' });
  });

  it('truncated and missing', () => {
    expect(parse('v1', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7'), true)).toMatchObject({ state: 'error', reason: 'truncated' });
    expect(parse('v1', CLIENT_HELLO_START)).toMatchObject({ state: 'error', reason: 'missing' });
  });
});
