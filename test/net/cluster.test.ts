/**
 * Real processes, real sockets, real WebRTC on 127.0.0.1: a signaling server and three Node edge peers, each its
 * own OS process, once per WebRTC engine.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMeshError, rendezvousStrategy, shardFor, type PeerInfo } from '../../src/index.js';
import { startEdgePeer, startSignalingProcess, type EdgePeerProcess, type SignalingProcess } from '../../src/testing/index.js';

const actorsModule = fileURLToPath(new URL('../fixtures/actors.ts', import.meta.url));

function predicted(peers: readonly PeerInfo[], capability: string, id: string): string | undefined {
  return rendezvousStrategy.preferenceList(shardFor(id), capability, peers.filter((p) => p.capabilities.includes(capability)), 1)[0];
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return isMeshError(e) ? e.code : `untyped: ${String(e)}`;
  }
}

for (const engine of ['node-datachannel', 'werift'] as const) {
  describe(`three edge processes over ${engine}`, () => {
    let signaling: SignalingProcess;
    let game: EdgePeerProcess;
    let chat: EdgePeerProcess;
    let both: EdgePeerProcess;
    const room = `cluster-${engine}`;

    beforeAll(async () => {
      signaling = await startSignalingProcess({ pingIntervalMs: 1000 });
      const start = (peerId: string, capabilities: string[]) =>
        startEdgePeer({ signalingUrl: signaling.url, room, peerId, capabilities, actorsModule, engine, heartbeatTimeoutMs: 3000, defaultTimeoutMs: 8000 });
      [game, chat, both] = await Promise.all([start('e1-game', ['game']), start('e2-chat', ['chat']), start('e3-both', ['chat', 'game'])]);
      for (const p of [game, chat, both]) await p.waitForPeers(['e1-game', 'e2-chat', 'e3-both']);
    }, 90_000);

    afterAll(async () => {
      await Promise.all([game, chat, both].map((p) => p?.kill('SIGKILL')));
      await signaling?.kill('SIGKILL');
    });

    it('routes calls from every peer to the owner placement predicts, over WebRTC', async () => {
      const { peers } = await game.view();
      const remoteServed = new Set<string>();
      for (const caller of [game, chat, both]) {
        for (let i = 0; i < 24; i++) {
          const capability = i % 2 === 0 ? 'game' : 'chat';
          const id = `${capability}-${i}`;
          const type = capability === 'game' ? 'counter' : 'room';
          const payload = capability === 'game' ? { op: 'add', arg: 1 } : { op: 'post', arg: `from ${caller.peerId}` };
          const r = await caller.call({ capability, type, id, payload });
          expect(r.peerId).toBe(predicted(peers, capability, id));
          expect(r.peerId).toBe(await caller.ownerOf(capability, id));
          if (r.peerId !== caller.peerId) remoteServed.add(`${caller.peerId}->${r.peerId}`);
        }
      }
      // Calls crossed processes in several directions, not only locally.
      expect(remoteServed.size).toBeGreaterThanOrEqual(4);
      // Capability isolation: the chat-only peer never activated a game actor, and vice versa.
      const chatActive = (await chat.stats())['active'] as Array<{ capability: string }>;
      const gameActive = (await game.stats())['active'] as Array<{ capability: string }>;
      expect(chatActive.every((a) => a.capability === 'chat')).toBe(true);
      expect(gameActive.every((a) => a.capability === 'game')).toBe(true);
      expect(chatActive.length + gameActive.length).toBeGreaterThan(0);
    }, 60_000);

    it('fails at once for a capability no peer serves', async () => {
      expect(await codeOf(game.call({ capability: 'video', type: 'counter', id: 'x', payload: { op: 'get' } }))).toBe('NoPeersForCapability');
    });

    it('keeps calling between connected peers while the signaling server is down, and rejoins when it returns', async () => {
      const port = signaling.port;
      // Warm the links that the calls below use.
      const ids = Array.from({ length: 12 }, (_, i) => `sig-${i}`);
      for (const id of ids) await game.call({ capability: 'chat', type: 'room', id, payload: { op: 'post', arg: 'before' } });
      const before = (await game.view()).view;
      await signaling.kill('SIGKILL');
      for (const id of ids) {
        const r = await game.call({ capability: 'chat', type: 'room', id, payload: { op: 'post', arg: 'during' } });
        expect(['e2-chat', 'e3-both']).toContain(r.peerId);
      }
      signaling = await startSignalingProcess({ port, pingIntervalMs: 1000 });
      for (const p of [game, chat, both]) await p.waitForPeers(['e1-game', 'e2-chat', 'e3-both'], 30_000);
      // Wait for the rejoin views, then check every peer agrees on a view newer than before.
      const deadline = Date.now() + 20_000;
      let views: number[] = [];
      for (;;) {
        views = await Promise.all([game, chat, both].map(async (p) => (await p.view()).view));
        if (views.every((v) => v === views[0] && v > before)) break;
        if (Date.now() > deadline) throw new Error(`views did not converge: ${views.join(', ')} (before ${before})`);
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const id of ids) await game.call({ capability: 'chat', type: 'room', id, payload: { op: 'post', arg: 'after' } });
    }, 90_000);

    it('moves the shards of a SIGKILLed peer; its in-flight callers get typed errors, not hangs', async () => {
      const { peers } = await both.view();
      const owned = Array.from({ length: 200 }, (_, i) => `kill-${i}`).filter((id) => predicted(peers, 'chat', id) === 'e2-chat').slice(0, 5);
      expect(owned.length).toBe(5);
      for (const id of owned) await both.call({ capability: 'chat', type: 'room', id, payload: { op: 'post', arg: 'x' } });
      const inflight = owned.map((id) => codeOf(both.call({ capability: 'chat', type: 'room', id, payload: { op: 'slowPost', arg: 2000 } }, { timeoutMs: 15_000 })));
      await new Promise((r) => setTimeout(r, 300));
      await chat.kill('SIGKILL');
      const codes = await Promise.all(inflight);
      for (const c of codes) expect(['PeerUnavailable', 'Timeout']).toContain(c);
      await both.waitForPeers(['e1-game', 'e3-both'], 20_000);
      await game.waitForPeers(['e1-game', 'e3-both'], 20_000);
      for (const id of owned) {
        const r = await game.call({ capability: 'chat', type: 'room', id, payload: { op: 'post', arg: 'after' } });
        expect(r.peerId).toBe('e3-both');
      }
    }, 90_000);
  });
}
