/**
 * The writer's database sessions: its two pg connections (the first, the owner, holds the chain's
 * advisory lock; batches alternate between both), opened under the writer's application name and
 * role, closed together, and the backend pids they had, so that after a lost connection the next
 * owner can end them (endStaleSessions). Apart from the writer (src/ledger/writer.ts), which
 * decides when to reconnect and what a lost connection means for the batches in flight.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { describeError } from '../errors.js';
import { endStaleSessions, lockChain } from './chain-ownership.js';
import { closeClient } from './pg-client.js';

export interface SessionOptions {
  readonly databaseUrl: string;
  readonly chain: string;
  readonly log: Logger;
  readonly role?: string;
}

export class WriterSessions {
  readonly #o: SessionOptions;
  /** Called when one of the current connections reports an error (lost while idle, say). */
  readonly #onLost: () => void;
  /** Connection 0 holds the chain's advisory lock; batches alternate between the connections. */
  #conns: Array<pg.Client | undefined> = [];
  #nextConn = 0;
  /** Backend pids of the current connections: after a lost connection, they may still be alive. */
  #pids: number[] = [];

  constructor(options: SessionOptions, onLost: () => void) {
    this.#o = options;
    this.#onLost = onLost;
  }

  /** False once disconnected (or never connected): the writer reconnects before its next batch. */
  get connected(): boolean {
    return this.#conns.length > 0;
  }

  /** The connection for the next batch's transaction (round robin). */
  next(): pg.Client {
    return this.#conns[this.#nextConn++ % this.#conns.length]!;
  }

  async disconnect(): Promise<void> {
    const conns = this.#conns;
    this.#conns = [];
    await Promise.all(conns.map((c) => (c ? closeClient(c) : undefined)));
  }

  /**
   * Drops the current connections and opens both again; returns the owner, which holds the chain's
   * lock. `retryLock`: not the first start, so the lock may take a moment (lockChain).
   */
  async open(retryLock: boolean): Promise<pg.Client> {
    await this.disconnect();
    const owner = await this.#connect(true, retryLock);
    this.#conns = [owner];
    const second = await this.#connect(false, retryLock);
    this.#conns.push(second);
    this.#pids = [owner, second].map(backendPid).filter((p): p is number => typeof p === 'number');
    return owner;
  }

  get #appName(): string {
    return `syslog-ledger writer ${this.#o.chain}`;
  }

  async #connect(owner: boolean, retryLock: boolean): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.#o.databaseUrl, application_name: this.#appName, connectionTimeoutMillis: 10_000 });
    client.on('error', (err) => {
      this.#o.log.warn({ err: describeError(err) }, 'writer connection error');
      if (!this.#conns.includes(client)) return;
      this.#onLost();
    });
    await client.connect();
    try {
      if (owner) {
        // Our own sessions still open after a lost connection first, then the lock they may hold.
        const pids = this.#pids;
        this.#pids = [];
        await endStaleSessions(client, pids, this.#appName, this.#o.chain, this.#o.log);
        await lockChain(client, this.#o.chain, retryLock);
      }
      if (this.#o.role) await setRole(client, this.#o.role);
      return client;
    } catch (err) {
      await closeClient(client);
      throw err;
    }
  }
}

/** SETs `role` after connecting, for least privilege; skipped when it does not exist or is not ours. */
export async function setRole(client: pg.Client, role: string): Promise<void> {
  const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1 AND pg_has_role(current_user, oid, $2)', [role, 'MEMBER']);
  if (exists.rowCount) await client.query(`SET ROLE ${client.escapeIdentifier(role)}`);
}

/** The session's backend pid, if connected (pg keeps it off its public type). */
export function backendPid(client: pg.Client): number | null {
  return (client as unknown as { processID: number | null }).processID;
}
