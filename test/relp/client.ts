/**
 * A minimal RELP client for tests (what librelp's client does, without its window): mTLS to the
 * server, `open`, numbered `syslog` frames, and every rsp collected in arrival order.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { isParseError, RelpParser, type RelpFrame } from '../../src/relp/parser.js';

export interface RelpClientFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export class TestRelpClient {
  readonly socket: tls.TLSSocket;
  readonly received: RelpFrame[] = [];
  #txnr = 0;
  #parser = new RelpParser({ maxDataBytes: 1 << 20 });
  #waiters: Array<() => void> = [];
  closed = false;

  private constructor(socket: tls.TLSSocket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => {
      for (const it of this.#parser.push(c)) if (!isParseError(it)) this.received.push(it);
      this.#wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => {});
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  static async connect(port: number, files: RelpClientFiles): Promise<TestRelpClient> {
    const socket = await new Promise<tls.TLSSocket>((res, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) });
      s.once('secureConnect', () => res(s));
      s.once('error', reject);
    });
    return new TestRelpClient(socket);
  }

  /** Sends one frame with the next TXNR (or `txnr`); returns the TXNR used. */
  send(command: string, data: Buffer | string = '', txnr = ++this.#txnr): number {
    const d = typeof data === 'string' ? Buffer.from(data) : data;
    this.socket.write(Buffer.concat([Buffer.from(d.length ? `${txnr} ${command} ${d.length} ` : `${txnr} ${command} 0`), d, Buffer.from('\n')]));
    return txnr;
  }

  open(): number {
    return this.send('open', 'relp_version=0\nrelp_software=test\ncommands=syslog');
  }

  /** rsp frames received, as `txnr code` strings. */
  rsps(): string[] {
    return this.received.filter((f) => f.command === 'rsp').map((f) => `${f.txnr} ${f.data.toString('latin1').slice(0, 3)}`);
  }

  /** Waits until `ok()` holds (or the connection closed, or the timeout). */
  async until(ok: () => boolean, timeoutMs = 30_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!ok()) {
      if (this.closed || Date.now() > deadline) return ok();
      await new Promise<void>((res) => {
        const t = setTimeout(res, 200);
        this.#waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
    return true;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A free TCP port on 127.0.0.1 (for a listener that must keep its port across restarts). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', () => res()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((res) => s.close(() => res()));
  return port;
}
