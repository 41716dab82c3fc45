/**
 * Subscriptions on the real stack: edge peers in their own processes (LMDB data directories, so the actor is
 * replicated to a standby), a subscriber in this process, WebRTC on 127.0.0.1. Events arrive in order, and keep
 * arriving after the owner is SIGKILLed and the standby takes over, with nothing lost and nothing reported lost.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMesh, type Mesh, type MeshError } from '../../src/index.js';
import { startEdgePeer, startSignalingProcess, type EdgePeerProcess, type SignalingProcess } from '../../src/testing/index.js';

const actorsModule = fileURLToPath(new URL('../fixtures/feed-actors.ts', import.meta.url));

/** Polls `predicate` every 20 ms until it holds, or fails after `ms` with `what()`. */
async function until(predicate: () => boolean, ms: number, what: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface FeedEvent {
  n: number;
  text: string;
  peer: string;
}

for (const engine of ['node-datachannel', 'werift'] as const) {
  describe(`subscriptions across processes over ${engine}`, () => {
    let signaling: SignalingProcess;
    const edges = new Map<string, EdgePeerProcess>();
    const dirs: string[] = [];
    let mesh: Mesh;
    const room = `subs-${engine}`;
    const ids = ['e1', 'e2', 'e3'];

    beforeAll(async () => {
      signaling = await startSignalingProcess({ pingIntervalMs: 1000 });
      await Promise.all(
        ids.map(async (peerId) => {
          const dataDir = mkdtempSync(join(tmpdir(), `meshrtc-subs-${peerId}-`));
          dirs.push(dataDir);
          edges.set(peerId, await startEdgePeer({ signalingUrl: signaling.url, room, peerId, dataDir, capabilities: ['news'], actorsModule, engine, heartbeatTimeoutMs: 3000 }));
        }),
      );
      mesh = await createMesh({ signalingUrl: signaling.url, room, peerId: 'watcher', capabilities: [], engine, loopbackOnly: true, heartbeatTimeoutMs: 3000, defaultTimeoutMs: 8000 });
      await until(() => mesh.table.peersFor('news').length === 3, 20_000, () => `watcher sees ${mesh.table.peers.map((p) => p.id).join(',')}`);
    }, 90_000);

    afterAll(async () => {
      await mesh?.close();
      await Promise.all([...edges.values()].map((p) => p.kill('SIGKILL')));
      await signaling?.kill('SIGKILL');
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    it('delivers events in order from another process, and keeps delivering after the owner is SIGKILLed', async () => {
      const address = { capability: 'news', type: 'feed', id: 'headlines' };
      const [owner, standby] = mesh.preferenceList('news', address.id, 2) as [string, string];
      const events: FeedEvent[] = [];
      const errors: MeshError[] = [];
      const stop = mesh.subscribe<FeedEvent>(address, (e) => events.push(e), { onError: (e) => errors.push(e) });
      const post = (text: string) => mesh.call<number>({ ...address, payload: { op: 'post', arg: text } }, { idempotencyKey: `watcher-${text}`, timeoutMs: 15_000 });

      // The subscribe frame leaves before the first post on the same ordered channel, and the owner registers it
      // in the actor's mailbox: every post below is seen by the subscription.
      expect(mesh.stats().subscriptions).toBe(1);
      for (let i = 1; i <= 20; i++) expect((await post(`a${i}`)).peerId).toBe(owner);
      // Posts from another process reach the subscriber too.
      const other = edges.get(ids.find((p) => p !== owner)!)!;
      for (let i = 21; i <= 25; i++) expect((await other.call<number>({ ...address, payload: { op: 'post', arg: `a${i}` } })).reply).toBe(i);
      await until(() => events.length === 25, 10_000, () => `${events.length} events`);
      expect(events.map((e) => e.n)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
      expect(events.every((e) => e.peer === owner)).toBe(true);

      await edges.get(owner)!.kill('SIGKILL');
      edges.delete(owner);
      await until(() => mesh.table.peer(owner) === undefined, 20_000, () => `view still has ${owner}`);
      for (let i = 26; i <= 45; i++) expect((await post(`b${i}`)).peerId).toBe(standby);
      await until(() => events.length === 45, 20_000, () => `${events.length} events: ${events.map((e) => e.n).join(',')}`);
      expect(events.map((e) => e.n)).toEqual(Array.from({ length: 45 }, (_, i) => i + 1));
      expect(events.slice(25).every((e) => e.peer === standby)).toBe(true);
      // Every acknowledged event had arrived before the kill (an event leaves before its reply): nothing lost.
      expect(errors.map((e) => `${e.code} ${e.message}`)).toEqual([]);
      stop();
      await until(() => mesh.stats().subscriptions === 0, 1000, () => 'unsubscribed');
    }, 90_000);
  });
}
