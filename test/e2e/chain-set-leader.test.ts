/**
 * Chain-set checkpoints with several servers on one ledger (serve's default: every second): one
 * instance signs them, the one whose session holds the chain-set lock; the others never do. When
 * the signer is killed (kill -9) another one takes over within a few seconds. `verify` with every
 * server's key checks the whole series and shows that no chain was dropped from the set, and names
 * the chain when one is.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevPki, type DevPkiFiles } from '../../src/pki/devpki.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createTestDatabase, query } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { connect, sendAndClose, waitFor } from '../helpers/tls-client.js';

const LEADS = 'chain-set: this instance holds the chain-set lock and signs the chain-set checkpoints';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('chain-set checkpoints: one signer among two servers on one database', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let root: string;
  let pki: DevPkiFiles;
  const servers: RunningServer[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('sl_chainset_leader');
    root = await mkdtemp(join(tmpdir(), 'sl-chainset-'));
    pki = await createDevPki({ dir: join(root, 'pki'), clients: [{ cn: 'client1.example.com' }] });
    // No --chain-set-interval: on by default, every second.
    for (const n of [1, 2]) servers.push(await startServer({ databaseUrl: db.url, pki, args: ['--chain', `c${n}`, '--verify-interval', '0'] }));
  }, 120_000);

  afterAll(async () => {
    for (const s of servers) await s.stop('SIGKILL').catch(() => undefined);
    for (const s of servers) await rm(s.workDir, { recursive: true, force: true });
    await db?.drop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  const send = async (s: RunningServer, tag: string, n: number): Promise<void> => {
    const socket = await connect(s.port, { cert: pki.client, key: pki.clientKey, ca: pki.ca });
    await sendAndClose(socket, Array.from({ length: n }, (_, i) => `<134>1 2024-05-01T12:00:00Z web-1 app - - - ${tag} ${i}\n`).join(''));
  };
  const signers = async (since: Date): Promise<Array<{ key_id: string; n: number }>> =>
    query<{ key_id: string; n: number }>(db.url, 'SELECT key_id, count(*)::int AS n FROM chain_set_checkpoints WHERE signed_at >= $1 GROUP BY 1', [since]);

  it('only the lock holder signs, about once a second; after kill -9 the other signs; verify shows no chain dropped, then names the dropped one', async () => {
    const leads = (s: RunningServer): boolean => s.logs.some((l) => l.msg === LEADS);
    await waitFor(async () => servers.some(leads) || undefined, 15_000);
    const t0 = new Date();
    // Both heads move all the time: without one signer each server would sign each second.
    for (let k = 0; k < 12; k++) {
      await Promise.all(servers.map((s, i) => send(s, `load-${i}-${k}`, 20)));
      await sleep(300);
    }
    const seconds = (Date.now() - t0.getTime()) / 1000;
    const first = await signers(t0);
    const total = first.reduce((a, r) => a + r.n, 0);
    console.log(`[chain-set] ${seconds.toFixed(1)} s, both heads moving: ${total} checkpoints by ${first.length} signer(s)`);
    expect(servers.filter(leads)).toHaveLength(1);
    expect(first).toHaveLength(1);
    expect(total).toBeGreaterThanOrEqual(2);
    expect(total).toBeLessThanOrEqual(Math.ceil(seconds) + 1);

    // kill -9 of the signer: its session ends, the lock with it; the other takes over.
    const leader = servers.find(leads)!;
    const other = servers.find((s) => s !== leader)!;
    const exited = new Promise((res) => leader.child.once('exit', res));
    leader.child.kill('SIGKILL');
    await exited;
    const t1 = new Date();
    for (let k = 0; k < 6; k++) {
      await send(other, `after-${k}`, 20);
      await sleep(500);
    }
    await waitFor(async () => (await signers(t1)).some((r) => r.key_id !== first[0]!.key_id) || undefined, 15_000);
    const after = await signers(t1);
    expect(after.map((r) => r.key_id)).not.toContain(first[0]!.key_id);
    expect(leads(other)).toBe(true);
    expect(await other.stop()).toBe(0);

    // verify with both servers' checkpoint files and keys: intact; every chain in the set.
    const all = ['verify', ...servers.flatMap((s) => ['--checkpoints', join(s.workDir, 'data', 'checkpoints.jsonl'), '--public-key', join(s.workDir, 'certs', 'ledger-signing.key.pub')])];
    const v = await other.cli([...all, '--json']);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const summary = JSON.parse(v.stdout) as { chain_sets: { checkpoints: number; chains: number } };
    const checkpoints = (await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM chain_set_checkpoints'))[0]!.n;
    expect(summary.chain_sets).toEqual({ checkpoints, chains: 2 });
    // A chain dropped by someone who can bypass the guards: verify names it.
    await query(db.url, "SET session_replication_role = replica; DELETE FROM ledger WHERE chain = 'c1'; DELETE FROM chains WHERE chain = 'c1'");
    const dropped = await other.cli(all);
    expect(dropped.code).toBe(1);
    expect(dropped.stdout).toMatch(/chain_dropped: chain "c1" is in signed chain-set checkpoint \d+/);
  }, 120_000);
});
