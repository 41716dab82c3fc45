/**
 * Browser peers on the real stack: placement in Chromium, capability isolation, identity across reloads and
 * tabs, IndexedDB persistence, failover from a closed tab, and a signaling restart under load.
 */
import { expect, test } from '@playwright/test';
import { SHARD_TEST_VECTORS } from 'meshrtc';
import { startCluster, type Cluster, type ClusterPeer } from 'meshrtc/testing/cluster';

const actors = new URL('./fixtures/actors.ts', import.meta.url);
let cluster: Cluster | undefined;

test.afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/** `count` ids of `capability` that `owner` owns (as `asker` sees the ring). */
async function idsOwnedBy(asker: ClusterPeer, capability: string, owner: string, count: number, prefix: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; ids.length < count && i < 10_000; i++) {
    if ((await asker.ownerOf(capability, `${prefix}-${i}`)) === owner) ids.push(`${prefix}-${i}`);
  }
  return ids;
}

const add = (id: string, by = 1) => ({ capability: 'game', type: 'counter', id, payload: { op: 'add', arg: by } });
const get = (id: string) => ({ capability: 'game', type: 'counter', id, payload: { op: 'get' } });

test('placement: shardFor gives the published vectors in Chromium', async () => {
  cluster = await startCluster({ actors, pages: 1 });
  const inPage = await cluster.pages[0]!.evaluate((h) => h.placementVectors(), null);
  expect(inPage).toEqual(SHARD_TEST_VECTORS.map((v) => ({ id: v.id, hash: v.hash, shard: v.shard })));
});

test('capability isolation: a page that registered only chat never activates a game actor', async () => {
  cluster = await startCluster({
    actors,
    pages: [{ capabilities: ['chat'] }, { capabilities: ['game'] }],
    edges: [{ capabilities: ['game'] }],
  });
  const [chatPage, gamePage] = cluster.pages as readonly ClusterPeer[] as [ClusterPeer, ClusterPeer];
  for (let i = 0; i < 40; i++) {
    const r = await chatPage.call<number>(add(`iso-${i}`));
    expect(r.peerId).not.toBe(chatPage.peerId);
    await gamePage.call({ capability: 'chat', type: 'where', id: `iso-chat-${i}`, payload: { op: 'ping' } });
  }
  const active = await chatPage.activeActors();
  expect(active.length).toBeGreaterThan(0); // it did serve the chat actors
  expect(active.filter((a) => a.capability !== 'chat')).toEqual([]);
});

test('reload: a page keeps its peer id and its counters come back from IndexedDB', async () => {
  // The page is the only game peer, so nobody else holds a copy: after the reload only IndexedDB has the counts.
  cluster = await startCluster({ actors, pages: [{ capabilities: ['game'] }], edges: [{ capabilities: ['chat'] }] });
  const page = cluster.pages[0]!;
  const edge = cluster.edges[0]!;
  const before = page.peerId;
  const ids = Array.from({ length: 10 }, (_, i) => `reload-${i}`);
  for (const [i, id] of ids.entries()) {
    for (let k = 0; k <= i; k++) expect((await edge.call<number>(add(id))).reply).toBe(k + 1);
  }
  await page.reload();
  expect(page.peerId).toBe(before);
  await cluster.waitConverged();
  for (const [i, id] of ids.entries()) {
    const r = await edge.call<number>(get(id), { timeoutMs: 15_000 });
    expect([r.peerId, r.reply]).toEqual([before, i + 1]);
  }
});

test('two tabs of one origin in one context get different peer ids, and keep them across reloads', async () => {
  cluster = await startCluster({
    actors,
    pages: [
      { capabilities: ['game'], context: 'shared' },
      { capabilities: ['game'], context: 'shared' },
    ],
  });
  const [a, b] = cluster.pages as [typeof cluster.pages[0], typeof cluster.pages[0]];
  expect(a!.context).toBe(b!.context);
  const ids = [a!.peerId, b!.peerId];
  expect(ids[0]).not.toBe(ids[1]);
  await b!.reload();
  await a!.reload();
  expect([a!.peerId, b!.peerId]).toEqual(ids);
  await cluster.waitConverged();
});

test('failover: the tab owning counters closes mid-load; no acknowledged increment is lost or applied twice', async () => {
  cluster = await startCluster({
    actors,
    pages: [{ capabilities: ['game'] }, { capabilities: ['game'] }],
    edges: [{ capabilities: ['chat'] }],
    heartbeatTimeoutMs: 2000,
  });
  const [victim, survivor] = cluster.pages as [typeof cluster.pages[0], typeof cluster.pages[0]];
  const edge = cluster.edges[0]!;
  const ids = await idsOwnedBy(edge, 'game', victim!.peerId, 8, 'fo');
  let stop = false;
  const replies = new Map<string, number[]>(ids.map((id) => [id, []]));
  const failures: string[] = [];
  // One sequential writer per counter: replies must be exactly 1, 2, 3, ... (a gap = applied twice or lost).
  const writers = ids.map(async (id) => {
    for (let seq = 0; !stop; seq++) {
      try {
        const r = await edge.call<number>(add(id), { idempotencyKey: `${id}#${seq}`, retry: true, timeoutMs: 20_000 });
        replies.get(id)!.push(r.reply);
      } catch (e) {
        failures.push(`${id}#${seq}: ${String(e)}`);
        return;
      }
    }
  });
  await new Promise((r) => setTimeout(r, 1500));
  await victim!.close();
  await new Promise((r) => setTimeout(r, 4000));
  stop = true;
  await Promise.all(writers);
  expect(failures).toEqual([]);
  for (const id of ids) {
    const got = replies.get(id)!;
    expect(got.length).toBeGreaterThan(2);
    expect(got).toEqual(got.map((_, i) => i + 1));
    const final = await edge.call<number>(get(id));
    expect([final.peerId, final.reply]).toEqual([survivor!.peerId, got.length]);
  }
});

test('signaling restart while pages are connected: calls keep succeeding', async () => {
  cluster = await startCluster({ actors, pages: [{ capabilities: ['game'] }, { capabilities: ['game'] }], edges: [{ capabilities: ['game'] }] });
  const peers = cluster.peers;
  let stop = false;
  let ok = 0;
  const errors: string[] = [];
  const load = peers.map(async (p, n) => {
    for (let i = 0; !stop; i++) {
      try {
        await p.call(add(`sr-${n}-${i % 16}`));
        ok++;
      } catch (e) {
        errors.push(String(e));
      }
    }
  });
  await new Promise((r) => setTimeout(r, 500));
  const before = ok;
  await cluster.restartSignaling(1000);
  const during = ok - before;
  await new Promise((r) => setTimeout(r, 1500));
  stop = true;
  await Promise.all(load);
  expect(errors).toEqual([]);
  expect(during).toBeGreaterThan(0);
  await cluster.waitConverged();
});
