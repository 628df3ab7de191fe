/**
 * The checkpoint signing key: Ed25519 (RFC 8032, pure, no prehash) through node:crypto.
 *
 * The private key lives in a file outside the database (`--signing-key`, PKCS#8 PEM, mode 0600) with
 * the public key beside it (`<file>.pub`, SPKI PEM). Verifiers need only the `.pub`. A key created
 * on the fly is for development: production keys belong in a KMS/HSM (docs/integrity.md).
 *
 * Key id: lowercase hex of the first 16 bytes of SHA-256(raw 32-byte Ed25519 public key), 32 characters.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, rename, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError, KeyFileError } from '../errors.js';

/** A loaded signing key pair. */
export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** keyIdOf(publicKey). */
  readonly keyId: string;
  /** True when the files did not exist and were created by this call. */
  readonly created: boolean;
}

/** A public key with its id, as verifiers use it. */
export interface VerifyingKey {
  readonly publicKey: KeyObject;
  readonly keyId: string;
}

/** The raw 32-byte Ed25519 public key. */
export function rawPublicKey(publicKey: KeyObject): Buffer {
  if (publicKey.asymmetricKeyType !== 'ed25519') throw new TypeError('not an Ed25519 key');
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new TypeError('Ed25519 public key has no x');
  return Buffer.from(jwk.x, 'base64url');
}

/** First 16 bytes of SHA-256(raw public key), lowercase hex. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(rawPublicKey(publicKey)).digest().subarray(0, 16).toString('hex');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Writes a file durably and atomically (temp file, fsync, rename); fails when `path` exists. */
async function writeNew(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (await exists(path)) throw new KeyFileError(path, 'appeared while it was being created');
  await rename(tmp, path);
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Loads the Ed25519 key in `path` (PKCS#8 PEM), or creates a new pair (`path` mode 0600 and
 * `path.pub`) when `path` does not exist; `created` tells the caller to warn. When `path.pub` exists
 * it must match the private key.
 */
export async function loadOrCreateSigningKey(path: string): Promise<SigningKey> {
  const pubPath = `${path}.pub`;
  if (!(await exists(path))) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    await mkdir(dirname(path), { recursive: true });
    await writeNew(path, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 0o600);
    if (!(await exists(pubPath))) {
      await writeNew(pubPath, publicKey.export({ format: 'pem', type: 'spki' }) as string, 0o644);
    }
    await syncDir(dirname(path));
    const loaded = await loadSigningKey(path);
    return { ...loaded, created: true };
  }
  return loadSigningKey(path);
}

async function loadSigningKey(path: string): Promise<SigningKey> {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(await readFile(path));
  } catch (cause) {
    throw new ConfigError('--signing-key', `cannot read an Ed25519 private key from ${path}`, { cause });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError('--signing-key', `${path} holds a ${privateKey.asymmetricKeyType} key; Ed25519 is required`);
  }
  const publicKey = createPublicKey(privateKey);
  const keyId = keyIdOf(publicKey);
  const pubPath = `${path}.pub`;
  if (await exists(pubPath)) {
    const pub = await loadPublicKey(pubPath);
    if (pub.keyId !== keyId) {
      throw new ConfigError('--signing-key', `${pubPath} (key id ${pub.keyId}) is not the public key of ${path} (key id ${keyId})`);
    }
  }
  return { privateKey, publicKey, keyId, created: false };
}

/** Loads an Ed25519 public key (SPKI PEM; a PKCS#8 private key file is accepted too, its public half is used). */
export async function loadPublicKey(path: string): Promise<VerifyingKey> {
  let text: Buffer;
  try {
    text = await readFile(path);
  } catch (cause) {
    throw new ConfigError('--public-key', `cannot read ${path}`, { cause });
  }
  return parsePublicKey(text, path);
}

/** Parses an Ed25519 public key from PEM text. */
export function parsePublicKey(pem: string | Buffer, source = 'public key'): VerifyingKey {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(pem);
  } catch (cause) {
    throw new ConfigError('--public-key', `${source} is not a PEM public key`, { cause });
  }
  if (publicKey.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError('--public-key', `${source} holds a ${publicKey.asymmetricKeyType} key; Ed25519 is required`);
  }
  return { publicKey, keyId: keyIdOf(publicKey) };
}
