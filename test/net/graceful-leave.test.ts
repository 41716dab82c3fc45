/**
 * A graceful leave under load on the real stack: a signaling server and 3 edge peers (node-datachannel, LMDB, each
 * its own process), a caller in this process keeping 16 plain calls in flight (no idempotency key, no retry
 * option: refused calls are retried by the mesh, as every call is on NotOwner). After a SIGKILL and a restart (the
 * history that used to make closes slow), the owner of many counters closes gracefully while the load goes on:
 * no call fails, the close exits quickly, and every counter holds exactly the number of acknowledged calls.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMesh, isMeshError, type Mesh } from '../../src/index.js';
import { startEdgePeer, startSignalingProcess, type EdgePeerProcess, type SignalingProcess } from '../../src/testing/index.js';

const actorsModule = fileURLToPath(new URL('../fixtures/actors.ts', import.meta.url));
const ROOM = 'graceful-leave';
const EDGES = ['g1', 'g2', 'g3'];
const IN_FLIGHT = 16;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  id: string;
  ok: boolean;
  code?: string;
  peerId?: string;
  end: number;
}

describe('graceful leave under load (real stack)', () => {
  let signaling: SignalingProcess;
  let caller: Mesh;
  const peers = new Map<string, EdgePeerProcess>();
  const root = mkdtempSync(join(tmpdir(), 'meshrtc-graceful-leave-'));
  const edge = (name: string): Promise<EdgePeerProcess> =>
    startEdgePeer({ signalingUrl: signaling.url, room: ROOM, peerId: name, dataDir: join(root, name), capabilities: ['game'], actorsModule, engine: 'node-datachannel' });
  const waitAll = async (): Promise<void> => {
    const want = ['caller', ...EDGES].sort().join(',');
    const end = Date.now() + 30_000;
    while (caller.table.peers.map((p) => p.id).sort().join(',') !== want) {
      if (Date.now() > end) throw new Error(`caller sees ${caller.table.peers.map((p) => p.id).join(',')}, wanted ${want}`);
      await sleep(20);
    }
  };

  beforeAll(async () => {
    signaling = await startSignalingProcess({ pingIntervalMs: 1000 });
    for (const [name, p] of await Promise.all(EDGES.map(async (n) => [n, await edge(n)] as const))) peers.set(name, p);
    caller = await createMesh({ signalingUrl: signaling.url, room: ROOM, peerId: 'caller', capabilities: [], loopbackOnly: true, defaultTimeoutMs: 5000 });
    await waitAll();
  }, 60_000);

  afterAll(async () => {
    await caller?.close().catch(() => {});
    for (const p of peers.values()) await p.kill('SIGKILL');
    await signaling?.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  it('fails no call, applies each once, and exits quickly, after a kill-and-restart history', async () => {
    const ids = Array.from({ length: 64 }, (_, i) => `g-${i}`);
    const acked = new Map<string, number>(ids.map((id) => [id, 0]));
    const outcomes: Outcome[] = [];
    let running = true;
    let k = 0;
    const worker = async (): Promise<void> => {
      while (running) {
        const id = ids[k++ % ids.length]!;
        try {
          const r = await caller.call({ capability: 'game', type: 'counter', id, payload: { op: 'add', arg: 1 } }, { timeoutMs: 2000 });
          acked.set(id, acked.get(id)! + 1);
          outcomes.push({ id, ok: true, peerId: r.peerId, end: performance.now() });
        } catch (e) {
          outcomes.push({ id, ok: false, code: isMeshError(e) ? e.code : String(e), end: performance.now() });
          await sleep(5);
        }
      }
    };

    // History: a SIGKILL and a restart with the same data directory (no load on these counters meanwhile).
    await Promise.all(ids.map((id) => caller.call({ capability: 'game', type: 'counter', id, payload: { op: 'get' } })));
    const killed = caller.ownerOf('game', ids[0]!)!;
    await peers.get(killed)!.kill('SIGKILL');
    peers.set(killed, await edge(killed));
    await waitAll();

    const workers = Array.from({ length: IN_FLIGHT }, worker);
    try {
      await sleep(500); // steady load first
      const counts = new Map<string, number>();
      for (const id of ids) counts.set(caller.ownerOf('game', id)!, (counts.get(caller.ownerOf('game', id)!) ?? 0) + 1);
      const victim = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
      const victimIds = new Set(ids.filter((id) => caller.ownerOf('game', id) === victim));
      const t0 = performance.now();
      await peers.get(victim)!.close();
      const exitMs = performance.now() - t0;
      peers.delete(victim);
      await sleep(1000); // load on the successors
      running = false;
      await Promise.all(workers);

      const failed = outcomes.filter((o) => !o.ok);
      const codes: Record<string, number> = {};
      for (const o of failed) codes[o.code ?? '?'] = (codes[o.code ?? '?'] ?? 0) + 1;
      expect(codes, `failed calls after ${outcomes.length}`).toEqual({});
      expect(outcomes.some((o) => o.ok && o.end > t0 + exitMs && victimIds.has(o.id) && o.peerId !== victim)).toBe(true);
      expect(exitMs, 'graceful close to process exit, ms').toBeLessThan(3000);
      // Exactly once: each counter holds the acknowledged calls (no call ran twice, none ran unacknowledged).
      for (const id of ids) {
        const r = await caller.call<number>({ capability: 'game', type: 'counter', id, payload: { op: 'get' } });
        expect(r.reply, id).toBe(acked.get(id));
      }
      // The victim comes back with its data directory (for the next run of this file).
      peers.set(victim, await edge(victim));
      await waitAll();
    } finally {
      running = false;
      await Promise.all(workers);
    }
  }, 90_000);
});
