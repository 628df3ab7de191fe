/** A TCP proxy in front of PostgreSQL that can be switched off (the database "down") and on again. */
import net from 'node:net';

export interface DbSwitch {
  readonly port: number;
  /** Cuts every connection and refuses new ones. */
  down(): void;
  up(): void;
  close(): Promise<void>;
}

export async function startDbSwitch(upstreamPort: number, upstreamHost = '127.0.0.1'): Promise<DbSwitch> {
  let isUp = true;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (!isUp) {
      client.destroy();
      return;
    }
    const upstream = net.connect(upstreamPort, upstreamHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  return {
    port: (server.address() as net.AddressInfo).port,
    down() {
      isUp = false;
      for (const s of sockets) s.destroy();
    },
    up() {
      isUp = true;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}
