/** Calls across a real cluster of Chromium pages and Node edge peers land on the owner placement predicts. */
import { expect, test } from '@playwright/test';
import { startCluster, type Cluster } from 'meshrtc/testing/cluster';

const actors = new URL('./fixtures/actors.ts', import.meta.url);
let cluster: Cluster | undefined;

test.afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

test('4 pages + 2 edges: calls from every peer land on the predicted owner, over loopback only', async () => {
  cluster = await startCluster({
    actors,
    pages: [{ capabilities: ['game'] }, { capabilities: ['game'] }, { capabilities: ['chat'] }, { capabilities: ['game', 'chat'] }],
    edges: [{ capabilities: ['game'] }, { capabilities: ['chat'] }],
  });
  const { peers } = cluster;
  expect(peers).toHaveLength(6);
  const kindOf = new Map(peers.map((p) => [p.peerId, p.kind]));
  const links = new Set<string>();
  for (const capability of ['game', 'chat']) {
    const servers = new Set(peers.filter((p) => p.capabilities.includes(capability)).map((p) => p.peerId));
    for (let i = 0; i < 24; i++) {
      const id = `${capability}-${i}`;
      const predicted = await peers[0]!.ownerOf(capability, id);
      expect(servers.has(predicted!)).toBe(true);
      for (const caller of peers) {
        expect(await caller.ownerOf(capability, id)).toBe(predicted);
        const r = await caller.call<string>({ capability, type: 'where', id, payload: { op: 'ping' } });
        expect(r.peerId).toBe(predicted);
        expect(r.reply).toBe(predicted);
        if (caller.peerId !== predicted) links.add(`${caller.kind}->${kindOf.get(predicted!) ?? '?'}`);
      }
    }
  }
  expect([...links].sort()).toEqual(['browser->browser', 'browser->edge', 'edge->browser', 'edge->edge']);
  // Every connection a page made uses 127.0.0.1 at both ends.
  for (const page of cluster.pages) {
    const pairs = await page.selectedPairs();
    expect(pairs.length).toBeGreaterThan(0);
    for (const pair of pairs) {
      expect(pair.local.address).toBe('127.0.0.1');
      expect(pair.remote.address).toBe('127.0.0.1');
    }
  }
});
