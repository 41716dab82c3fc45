/**
 * Durable actors on the real stack: an edge peer keeps its id and its actors' state in its data directory
 * (LMDB). Acknowledged increments survive a graceful restart and a SIGKILL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdgePeer, startSignalingProcess, type EdgePeerProcess, type SignalingProcess } from '../../src/testing/index.js';

const actorsModule = fileURLToPath(new URL('../fixtures/actors.ts', import.meta.url));

describe('edge peer restart with the same data directory', () => {
  let signaling: SignalingProcess;
  let client: EdgePeerProcess;
  const dataDir = mkdtempSync(join(tmpdir(), 'meshrtc-restart-'));
  const room = 'restart';
  const start = (): Promise<EdgePeerProcess> =>
    startEdgePeer({ signalingUrl: signaling.url, room, dataDir, capabilities: ['game'], actorsModule, engine: 'node-datachannel' });

  beforeAll(async () => {
    signaling = await startSignalingProcess({ pingIntervalMs: 1000 });
    client = await startEdgePeer({ signalingUrl: signaling.url, room, peerId: 'client', capabilities: [], engine: 'node-datachannel' });
  }, 60_000);

  afterAll(async () => {
    await client?.kill('SIGKILL');
    await signaling?.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves its actors with their state after a graceful stop and after SIGKILL, under the same peer id', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `c${i}`);
    const add = (id: string, by: number) => client.call<number>({ capability: 'game', type: 'counter', id, payload: { op: 'add', arg: by } });
    const get = async (id: string) => (await client.call<number>({ capability: 'game', type: 'counter', id, payload: { op: 'get' } })).reply;

    let owner = await start();
    const peerId = owner.peerId;
    await client.waitForPeers(['client', peerId]);
    for (const id of ids) expect((await add(id, 3)).peerId).toBe(peerId);

    await owner.close();
    await client.waitForPeers(['client']);
    owner = await start();
    expect(owner.peerId).toBe(peerId);
    await client.waitForPeers(['client', peerId]);
    for (const id of ids) expect(await get(id)).toBe(3);

    // Acknowledged means committed to disk: a SIGKILL right after the acks loses none of them.
    await Promise.all(ids.map((id) => add(id, 4)));
    await owner.kill('SIGKILL');
    await client.waitForPeers(['client']);
    owner = await start();
    expect(owner.peerId).toBe(peerId);
    await client.waitForPeers(['client', peerId]);
    for (const id of ids) expect(await get(id)).toBe(7);
    await owner.close();
  }, 120_000);
});
