/**
 * The redaction key (`--redaction-key`): 32 random bytes, hex, in a file outside the database (mode
 * 0600), created when absent like the checkpoint signing key. It keys the HMAC-SHA-256 kept of every
 * frame whose stored form was redacted (`event.raw_hmac`), so that someone holding the key (and only
 * they) can tell whether a given original line is the one behind a redacted row.
 */
import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, rename, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../errors.js';

export interface RedactionKey {
  readonly key: Buffer;
  /** First 8 bytes of HMAC-SHA-256(key, "syslog-ledger redaction key id"), hex: names the key in events without revealing it. */
  readonly keyId: string;
  readonly created: boolean;
}

export const REDACTION_KEY_BYTES = 32;

export function redactionKeyId(key: Buffer): string {
  return createHmac('sha256', key).update('syslog-ledger redaction key id').digest().subarray(0, 8).toString('hex');
}

/** A key from bytes (tests, benchmarks). */
export function redactionKeyFrom(key: Buffer): RedactionKey {
  if (key.length < 16) throw new ConfigError('--redaction-key', 'the key must be at least 16 bytes');
  return { key, keyId: redactionKeyId(key), created: false };
}

const keyObjects = new WeakMap<Buffer, KeyObject>();

/** HMAC-SHA-256 of the unredacted frame bytes, lowercase hex (what `event.raw_hmac` holds). */
export function rawHmac(key: Buffer, raw: Buffer): string {
  let k = keyObjects.get(key);
  if (k === undefined) {
    k = createSecretKey(key);
    keyObjects.set(key, k);
  }
  return createHmac('sha256', k).update(raw).digest('hex');
}

/** Loads the key in `path` (hex text), or creates one (mode 0600, written atomically) when the file does not exist. */
export async function loadOrCreateRedactionKey(path: string): Promise<RedactionKey> {
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError('--redaction-key', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (text !== undefined) {
    const hex = text.trim();
    if (!/^(?:[0-9a-fA-F]{2}){16,}$/.test(hex)) throw new ConfigError('--redaction-key', `${path} must hold at least 16 bytes as hex`);
    return { key: Buffer.from(hex, 'hex'), keyId: redactionKeyId(Buffer.from(hex, 'hex')), created: false };
  }
  const key = randomBytes(REDACTION_KEY_BYTES);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    await fh.writeFile(`${key.toString('hex')}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (await exists(path)) throw new ConfigError('--redaction-key', `${path} appeared while it was being created`);
  await rename(tmp, path);
  return { key, keyId: redactionKeyId(key), created: true };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
