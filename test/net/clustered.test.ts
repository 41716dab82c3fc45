/**
 * Clustered functions and clustered HTTP on the real stack: a signaling server and edge peers, each its own OS
 * process started only with MESH_* variables (startFromEnv), over WebRTC (node-datachannel) on 127.0.0.1.
 * - Kill the executing peer mid-call: every call completes on another peer once; a durable ledger keyed by the
 *   call's idempotency key proves no acknowledged side effect was applied twice.
 * - Unkeyed calls spread over the capable peers; keyed calls run on the key's owner; the decorator form works.
 * - The example edge server (examples/edge-http): Node's fetch hits its plain and clustered routes; the handler
 *   runs on the key's owner (another edge server); a retry with the same request key comes from the table.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSignalingProcess, type SignalingProcess } from '../../src/testing/index.js';
import { meshEnv, startClusteredEdge, startExampleServer, type Driven } from '../fixtures/clustered-driver.js';

const root = mkdtempSync(join(tmpdir(), 'meshrtc-clustered-'));

interface Invoked<R> {
  result: R;
  peerId: string;
  replayed: boolean;
  attempts: number;
  idempotencyKey: string;
}

describe('clustered functions across edge processes', () => {
  let signaling: SignalingProcess;
  const procs: Driven[] = [];
  let workers: Driven[] = [];
  let client: Driven;
  const room = 'clustered';

  beforeAll(async () => {
    signaling = await startSignalingProcess({ pingIntervalMs: 1000 });
    workers = await Promise.all(
      ['w1', 'w2', 'w3'].map((peerId) => startClusteredEdge(meshEnv(signaling.url, room, { capabilities: ['work', 'ledger'], peerId, dataDir: join(root, peerId) }))),
    );
    client = await startClusteredEdge(meshEnv(signaling.url, room, { peerId: 'client' }));
    procs.push(...workers, client);
    for (let i = 0; i < 200; i++) {
      const { peers } = await client.send<{ peers: string[] }>('stats');
      if (peers.length === 4) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await signaling?.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  it('spreads unkeyed calls over the 3 capable peers, runs keyed calls on the owner, and serves decorated methods', async () => {
    // Warm-up, not counted: the client's links to the workers open on first use (about 100 ms each here); calls
    // measured while one link is still being set up pile up on the peers already connected (least in flight).
    const warm = await client.send<{ served: Record<string, number>; failures: number }>('spread', { count: 48, concurrency: 8, delayMs: 10 });
    expect(warm.failures).toBe(0);
    const spread = await client.send<{ served: Record<string, number>; failures: number }>('spread', { count: 600, concurrency: 8, delayMs: 10 });
    console.log('unkeyed spread over 3 edge processes:', spread.served);
    expect(spread.failures).toBe(0);
    expect(Object.keys(spread.served).sort()).toEqual(['w1', 'w2', 'w3']);
    for (const n of Object.values(spread.served)) expect(n).toBeLessThanOrEqual(300);

    const keys = Array.from({ length: 30 }, (_, i) => `user-${i}`);
    const keyed = await client.send<Array<{ key: string; peerId: string; owner: string }>>('keyed', { keys });
    expect(keyed.every((r) => r.peerId === r.owner)).toBe(true);
    expect(new Set(keyed.map((r) => r.peerId)).size).toBe(3);

    // The decorator form: Reports.render, keyed by user.
    for (const user of ['ada', 'bob', 'cy', 'dee']) {
      const { owner } = (await client.send<Array<{ owner: string }>>('keyed', { keys: [user] }))[0]!;
      expect(await client.send('render', { user })).toBe(`report of ${user} by ${owner}`);
    }
  }, 60_000);

  it('completes every call once on another peer when its executor is killed mid-call; no acknowledged effect twice', async () => {
    const accounts = Array.from({ length: 12 }, (_, i) => `acct-${i}`);
    const calls = accounts.map((account) =>
      client.send<Invoked<{ peerId: string; count: number; attempt: number }>>('invoke', {
        fn: 'bump',
        args: [account, 4000],
        options: { idempotencyKey: `job-${account}`, timeoutMs: 30_000 },
      }),
    );
    // Every call has applied its effect (the ledger acknowledged it) and is holding on its executor.
    const executing = async (): Promise<Array<{ key: string; peerId: string }>> =>
      workers.flatMap((w) => w.events.filter((e) => e['event'] === 'executing').map((e) => ({ key: String(e['key']), peerId: String(e['peerId']) })));
    for (let i = 0; i < 200 && (await executing()).length < accounts.length; i++) await new Promise((r) => setTimeout(r, 50));
    const first = await executing();
    expect(first).toHaveLength(accounts.length);
    const perPeer = new Map<string, number>();
    for (const e of first) perPeer.set(e.peerId, (perPeer.get(e.peerId) ?? 0) + 1);
    const victimId = [...perPeer].sort((a, b) => b[1] - a[1])[0]![0];
    const victim = workers.find((w) => w.peerId === victimId)!;
    const onVictim = new Set(first.filter((e) => e.peerId === victimId).map((e) => e.key));
    await victim.kill('SIGKILL');

    const results = await Promise.all(calls);
    for (const [i, r] of results.entries()) {
      const key = `job-${accounts[i]}`;
      expect(r.idempotencyKey).toBe(key);
      expect(r.result.peerId).toBe(r.peerId);
      if (onVictim.has(key)) {
        expect(r.peerId).not.toBe(victimId);
        expect(r.attempts).toBe(2);
        expect(r.result.attempt).toBe(2);
      } else expect(r.attempts).toBe(1);
      // The retry's ledger add carried the same key: answered from the ledger's dedupe table, still 1.
      expect(r.result.count).toBe(1);
    }
    for (const account of accounts) expect(await client.send('ledger', { id: account })).toBe(1);
    const reruns = (await executing()).length - accounts.length;
    console.log(`killed ${victimId} holding ${onVictim.size} calls; ${reruns} re-ran elsewhere; every ledger is 1`);
    expect(reruns).toBe(onVictim.size);
    expect(onVictim.size).toBeGreaterThan(0);

    // The same call again: answered from the executor's table of completed calls, nothing runs; the same key
    // with other arguments is refused.
    const again = await client.send<Invoked<{ count: number }>>('invoke', { fn: 'bump', args: [accounts[0], 4000], options: { idempotencyKey: `job-${accounts[0]}` } });
    expect(again.replayed).toBe(true);
    expect(again.result.count).toBe(1);
    await expect(client.send('invoke', { fn: 'bump', args: [accounts[0], 0], options: { idempotencyKey: `job-${accounts[0]}` } })).rejects.toMatchObject({ code: 'Conflict' });
    expect((await executing()).length - accounts.length).toBe(reruns);
  }, 90_000);
});

describe('the example edge HTTP server (examples/edge-http), two servers', () => {
  let signaling: SignalingProcess;
  let servers: Driven[] = [];

  beforeAll(async () => {
    signaling = await startSignalingProcess({ pingIntervalMs: 1000 });
    servers = await Promise.all(['http-a', 'http-b'].map((peerId) => startExampleServer(meshEnv(signaling.url, 'http-room', { capabilities: ['http'], peerId, actors: false }))));
    for (let i = 0; i < 200; i++) {
      const health = (await (await fetch(`${servers[0]!.url}/health`)).json()) as { peers: number };
      if (health.peers === 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 90_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.kill('SIGTERM')));
    await signaling?.kill('SIGKILL');
  });

  it('serves the plain route locally and clustered routes on the key owner, deduplicating retried request keys', async () => {
    const [a] = servers;
    const health = await fetch(`${a!.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true, peerId: 'http-a', peers: 2 });

    const seen = new Set<string>();
    for (let i = 0; i < 16; i++) {
      const res = await fetch(`${a!.url}/users/u${i}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { user: string; servedBy: string; runtime: string };
      const peer = res.headers.get('x-mesh-peer')!;
      expect(body).toMatchObject({ user: `u${i}`, servedBy: peer, runtime: 'node' });
      expect(res.headers.get('x-mesh-request-key')).toMatch(/^[a-z0-9]{20}$/);
      seen.add(peer);
    }
    expect([...seen].sort()).toEqual(['http-a', 'http-b']); // half the users live on the other server

    // A retried POST with the same request key: answered from the executor's table, the handler does not run.
    const post = (): Promise<Response> =>
      fetch(`${a!.url}/users/u1/notes`, { method: 'POST', headers: { 'x-mesh-request-key': 'note-42', 'content-type': 'text/plain' }, body: 'buy milk' });
    const first = await post();
    expect(first.status).toBe(201);
    const firstBody = await first.json();
    const retry = await post();
    expect(retry.status).toBe(201);
    expect(retry.headers.get('x-mesh-replayed')).toBe('1');
    expect(retry.headers.get('x-mesh-request-key')).toBe('note-42');
    expect(await retry.json()).toEqual(firstBody);

    // Streamed response from the owner, line by line.
    const stream = await fetch(`${a!.url}/users/u3/stream?parts=20`);
    const owner = stream.headers.get('x-mesh-peer');
    const lines = (await stream.text()).trim().split('\n');
    expect(lines).toHaveLength(20);
    expect(lines[19]).toBe(`part 20 of 20 for u3 from ${owner}`);

    // Over the body limit (1 MiB): a typed 413.
    const big = await fetch(`${a!.url}/users/u1/notes`, { method: 'POST', body: new Uint8Array(1024 * 1024 + 1) });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ error: { code: 'PayloadTooLarge' } });
  }, 60_000);
});
