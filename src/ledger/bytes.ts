/** Big-endian integers in byte arrays, for verify's hot path (src/verify/: copy.ts, fields.ts, range.ts). */

/**
 * A big-endian int32 at b[at]. Buffer's readInt32BE / writeUInt32BE check their arguments on every
 * call; the hot path reads and writes ~40 of these a row, at offsets it has already bounded.
 */
export function get32(b: Uint8Array, at: number): number {
  return ((b[at] as number) << 24) | ((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number);
}

/** `v` (int32 or uint32) big-endian at o[w]; returns w + 4. */
export function put32(o: Uint8Array, w: number, v: number): number {
  o[w] = v >>> 24;
  o[w + 1] = (v >>> 16) & 0xff;
  o[w + 2] = (v >>> 8) & 0xff;
  o[w + 3] = v & 0xff;
  return w + 4;
}

const TWO32 = 2 ** 32;

/** A big-endian int64 at b[at] as a number (exact for a safe integer: seq, microseconds). */
export function get64(b: Uint8Array, at: number): number {
  return get32(b, at) * TWO32 + (get32(b, at + 4) >>> 0);
}

/** A safe integer as a big-endian int64 at o[w]; returns w + 8. */
export function put64(o: Uint8Array, w: number, v: number): number {
  const hi = Math.floor(v / TWO32);
  return put32(o, put32(o, w, hi), v - hi * TWO32);
}

/**
 * `s` as UTF-8 at o[w] (room for s.length * 3 bytes assumed); returns the byte count. Short ASCII
 * strings (a row's format, procid, hostname, user...) are stored byte by byte: for them the call
 * into Buffer#write costs more than the copy.
 */
export function putUtf8(o: Buffer, w: number, s: string): number {
  const n = s.length;
  if (n <= 32) {
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      o[w + i] = c;
    }
    if (i === n) return n;
  }
  return o.write(s, w, 'utf8');
}
