/** Package files written with their SHA-256 computed on the way, with backpressure, fsynced at close. */
import { createHash, type Hash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import type { FileDigest } from './format.js';

export class HashedFile {
  readonly #ws: WriteStream;
  readonly #hash: Hash = createHash('sha256');
  readonly path: string;
  #bytes = 0;

  constructor(path: string) {
    this.path = path;
    this.#ws = createWriteStream(path, { flags: 'wx', mode: 0o644 });
    this.#ws.on('error', () => {});
  }

  /** Writes text (UTF-8); waits when the stream's buffer is full. */
  async write(text: string): Promise<void> {
    if (text.length === 0) return;
    const b = Buffer.from(text, 'utf8');
    this.#hash.update(b);
    this.#bytes += b.length;
    // events.once rejects when 'error' is emitted while it waits.
    if (!this.#ws.write(b)) await once(this.#ws, 'drain');
  }

  /** Ends the file, fsyncs it, returns its digest. */
  async close(): Promise<FileDigest> {
    await new Promise<void>((res, rej) => {
      this.#ws.once('error', rej);
      this.#ws.end(() => res());
    });
    await syncFile(this.path);
    return { sha256: this.#hash.digest('hex'), bytes: this.#bytes };
  }

  destroy(): void {
    this.#ws.destroy();
  }
}

export async function syncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes a whole small file, fsynced; returns its digest. */
export async function writeWhole(path: string, text: string): Promise<FileDigest> {
  const f = new HashedFile(path);
  await f.write(text);
  return f.close();
}

/** Moves the finished temporary folder to its name (fails when the name exists) and makes that durable. */
export async function publish(tmp: string, out: string, parent: string): Promise<void> {
  await rename(tmp, out);
  await syncFile(parent);
}

export async function removeQuietly(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true }).catch(() => {});
}
