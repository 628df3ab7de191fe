/**
 * SHA-256 for the hot paths (the writer's row hash, verify, the Merkle tree), through node:crypto's
 * one-shot `hash` with the digest returned as a latin1 ("binary") string: one char per byte.
 *
 * Why not `hash(..., 'buffer')` or `createHash().digest()`: both return the digest in an ArrayBuffer
 * of its own, allocated with malloc and freed by V8's ArrayBuffer sweeper. Measured on the 2-core dev
 * machine (Node 20, bench/verify.ts): a hash of 32 bytes cost ~1,440 ns that way and ~240 ns with a
 * string digest, a short string on the V8 heap; reading its 32 chars back costs ~30 ns. For a 2 KB
 * ledger row, 2,550 against 1,450 ns. The few bytes copied are the price of not allocating.
 */
import { hash } from 'node:crypto';

/** Digest length. */
export const SHA256_SIZE = 32;

/** SHA-256(data) written to out[at, at + 32). */
export function sha256Into(data: Uint8Array, out: Uint8Array, at: number): void {
  const d = hash('sha256', data, 'binary');
  for (let k = 0; k < SHA256_SIZE; k++) out[at + k] = d.charCodeAt(k);
}

/** SHA-256(data) in a new 32-byte Buffer (taken from Node's Buffer pool: no allocation of its own). */
export function sha256(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(SHA256_SIZE);
  sha256Into(data, out, 0);
  return out;
}

/** Whether SHA-256(data) equals expected[at, at + 32). */
export function sha256Equals(data: Uint8Array, expected: Uint8Array, at: number): boolean {
  const d = hash('sha256', data, 'binary');
  for (let k = 0; k < SHA256_SIZE; k++) if (d.charCodeAt(k) !== expected[at + k]) return false;
  return true;
}
