/**
 * SHA-256 (FIPS 180-4) of the two small inputs the Merkle tree hashes millions of times: a leaf,
 * 0x00 || 32 bytes (one block), and a node, 0x01 || 32 || 32 bytes (two blocks).
 *
 * Why not node:crypto: its one-shot hash costs ~700 ns per call whatever the size (argument checks
 * and the native call; the compression itself, with SHA-NI, is ~50 ns a block). Here a leaf costs
 * ~300 ns and a node ~600 ns, measured on the 2-core dev machine (bench/experiments.ts), which is a
 * third of verify's Merkle work. Checked against node:crypto on random inputs in
 * test/integrity/merkle.test.ts, and by the RFC 6962 vectors there.
 */

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

const W = new Int32Array(64);
const H = new Int32Array(8);
/** The padded message: at most two blocks. */
const M = new Uint8Array(128);

function compress(o: number): void {
  for (let i = 0; i < 16; i++) {
    const j = o + 4 * i;
    W[i] = ((M[j] as number) << 24) | ((M[j + 1] as number) << 16) | ((M[j + 2] as number) << 8) | (M[j + 3] as number);
  }
  for (let i = 16; i < 64; i++) {
    const x = W[i - 15] as number;
    const y = W[i - 2] as number;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    W[i] = ((W[i - 16] as number) + s0 + (W[i - 7] as number) + s1) | 0;
  }
  let a = H[0] as number;
  let b = H[1] as number;
  let c = H[2] as number;
  let d = H[3] as number;
  let e = H[4] as number;
  let f = H[5] as number;
  let g = H[6] as number;
  let h = H[7] as number;
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + (K[i] as number) + (W[i] as number)) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  H[0] = ((H[0] as number) + a) | 0;
  H[1] = ((H[1] as number) + b) | 0;
  H[2] = ((H[2] as number) + c) | 0;
  H[3] = ((H[3] as number) + d) | 0;
  H[4] = ((H[4] as number) + e) | 0;
  H[5] = ((H[5] as number) + f) | 0;
  H[6] = ((H[6] as number) + g) | 0;
  H[7] = ((H[7] as number) + h) | 0;
}

function digest(): Buffer {
  const out = Buffer.allocUnsafe(32);
  for (let i = 0; i < 8; i++) out.writeInt32BE(H[i] as number, 4 * i);
  return out;
}

/** SHA-256(prefix || data), data exactly 32 bytes: one block. */
export function sha256Prefixed32(prefix: number, data: Uint8Array): Buffer {
  return prefixed(prefix, data, undefined);
}

/** SHA-256(prefix || left || right), both exactly 32 bytes: two blocks. */
export function sha256Prefixed64(prefix: number, left: Uint8Array, right: Uint8Array): Buffer {
  return prefixed(prefix, left, right);
}

/** SHA-256 of a prefix byte and one or two 32-byte inputs (33 or 65 bytes), padded in M. */
function prefixed(prefix: number, a: Uint8Array, b: Uint8Array | undefined): Buffer {
  const len = b === undefined ? 33 : 65;
  const end = b === undefined ? 64 : 128;
  M[0] = prefix;
  M.set(a, 1);
  if (b !== undefined) M.set(b, 33);
  M[len] = 0x80;
  M.fill(0, len + 1, end - 2);
  M[end - 2] = (len * 8) >> 8; // the length in bits, big-endian (264 or 520: two bytes)
  M[end - 1] = (len * 8) & 0xff;
  H.set(IV);
  for (let at = 0; at < end; at += 64) compress(at);
  return digest();
}
