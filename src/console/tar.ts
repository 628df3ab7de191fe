/**
 * A POSIX ustar archive of one folder's regular files (an evidence package is flat), streamed
 * file by file: how the console hands a package to a browser. `tar -xf` restores the folder.
 * Format: POSIX.1-1988 ustar (IEEE Std 1003.1, "pax" chapter, ustar Interchange Format).
 */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { ConsoleError } from '../errors.js';

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

function header(name: string, size: number, mode: number, mtimeSec: number, type: '0' | '5'): Buffer {
  if (Buffer.byteLength(name) > 100) throw new ConsoleError(`tar: name too long: ${name}`);
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(mtimeSec, 12), 136, 'ascii');
  h.fill(' ', 148, 156);
  h.write(type, 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

async function writeChunk(out: Writable, b: Buffer): Promise<void> {
  if (!out.write(b)) await new Promise<void>((r) => out.once('drain', () => r()));
}

/** Writes `dir`'s files as `prefix/<file>` into `out` (not ended). */
export async function tarFolder(dir: string, prefix: string, out: Writable): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  await writeChunk(out, header(`${prefix}/`, 0, 0o755, now, '5'));
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    const st = await stat(path);
    if (!st.isFile()) continue;
    await writeChunk(out, header(`${prefix}/${name}`, st.size, 0o644, Math.floor(st.mtimeMs / 1000), '0'));
    for await (const chunk of createReadStream(path)) await writeChunk(out, chunk as Buffer);
    const pad = (512 - (st.size % 512)) % 512;
    if (pad) await writeChunk(out, Buffer.alloc(pad));
  }
  await writeChunk(out, Buffer.alloc(1024));
}
