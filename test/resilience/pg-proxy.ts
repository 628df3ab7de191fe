/**
 * A TCP proxy in front of PostgreSQL that breaks the connection at the worst moments for a writer:
 * right before a COMMIT reaches the server, right after the server committed (its answer is lost),
 * or by going silent (a network partition: nothing passes, nothing is closed).
 *
 * It reads the frontend protocol just enough to see a simple-query COMMIT: a startup message
 * (length, no type byte), then messages of type byte + int32 length (PostgreSQL protocol 3.0, "Message Flow").
 */
import net from 'node:net';

export const FAULTS = ['drop-before-commit', 'drop-after-commit', 'blackhole-at-commit'] as const;
export type Fault = (typeof FAULTS)[number];

export interface PgProxy {
  readonly port: number;
  /** The next COMMIT on any connection triggers `fault` (once). */
  arm(fault: Fault): void;
  /** Faults triggered so far. */
  readonly triggered: Fault[];
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startPgProxy(upstreamPort: number, upstreamHost = '127.0.0.1'): Promise<PgProxy> {
  let armed: Fault | undefined;
  const triggered: Fault[] = [];
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    connections++;
    const upstream = net.connect(upstreamPort, upstreamHost);
    sockets.add(client);
    sockets.add(upstream);
    let buf = Buffer.alloc(0);
    let started = false;
    /** After drop-after-commit: swallow the server's next answer, then cut. */
    let cutOnAnswer = false;
    let silent = false;
    const cut = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      if (silent) return;
      buf = Buffer.concat([buf, chunk]);
      let out = 0;
      for (;;) {
        if (!started) {
          if (buf.length < 4) break;
          const len = buf.readInt32BE(0);
          if (buf.length < len) break;
          started = true;
          upstream.write(buf.subarray(0, len));
          buf = buf.subarray(len);
          continue;
        }
        if (buf.length < 5) break;
        const len = buf.readInt32BE(1) + 1;
        if (buf.length < len) break;
        const msg = buf.subarray(0, len);
        const isCommit = msg[0] === 0x51 && msg.subarray(5, len - 1).toString() === 'COMMIT';
        if (isCommit && armed) {
          const fault = armed;
          armed = undefined;
          triggered.push(fault);
          if (fault === 'drop-before-commit') return cut();
          if (fault === 'blackhole-at-commit') {
            silent = true;
            return;
          }
          cutOnAnswer = true;
        }
        upstream.write(msg);
        buf = buf.subarray(len);
        out++;
      }
      void out;
    });
    upstream.on('data', (chunk: Buffer) => {
      if (silent) return;
      if (cutOnAnswer) return cut();
      client.write(chunk);
    });
    const end = (): void => {
      sockets.delete(client);
      sockets.delete(upstream);
      if (!silent) cut();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  return {
    port: (server.address() as net.AddressInfo).port,
    arm: (f) => (armed = f),
    triggered,
    get connections() {
      return connections;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}
