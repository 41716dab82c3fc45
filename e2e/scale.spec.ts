/** Scale test: a 16-page + 4-edge cluster forms and serves calls from every peer. Reports convergence time. */
import { expect, test } from '@playwright/test';
import { startCluster, type Cluster } from 'meshrtc/testing/cluster';

const actors = new URL('./fixtures/actors.ts', import.meta.url);
let cluster: Cluster | undefined;

test.afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

test('scale: 16 pages + 4 edges form one cluster and serve calls from every peer', async () => {
  const started = Date.now();
  cluster = await startCluster({
    actors,
    pages: Array.from({ length: 16 }, (_, i) => ({ capabilities: i % 4 === 3 ? ['chat'] : ['game'] })),
    edges: Array.from({ length: 4 }, (_, i) => ({ capabilities: i % 2 === 0 ? ['game'] : ['game', 'chat'] })),
  });
  const formedMs = Date.now() - started;
  const convergedAgainMs = await cluster.waitConverged();
  const { peers } = cluster;
  expect(peers).toHaveLength(20);
  const served = new Set<string>();
  // Every peer calls 8 actors of each capability; the replies must come from the owners placement predicts.
  const t0 = Date.now();
  await Promise.all(
    peers.map(async (caller, n) => {
      for (const capability of ['game', 'chat']) {
        for (let i = 0; i < 8; i++) {
          const id = `${capability}-${n}-${i}`;
          const r = await caller.call<string>({ capability, type: 'where', id, payload: { op: 'ping' } }, { timeoutMs: 30_000 });
          expect(r.reply).toBe(await caller.ownerOf(capability, id));
          served.add(r.peerId);
        }
      }
    }),
  );
  const callsMs = Date.now() - t0;
  expect(served.size).toBeGreaterThan(10);
  const report = `16 pages + 4 edges: cluster formed (all started, every peer sees all 20) in ${formedMs} ms; ` +
    `320 calls from 20 peers in ${callsMs} ms, served by ${served.size} peers; re-check of convergence ${convergedAgainMs} ms`;
  test.info().annotations.push({ type: 'scale', description: report });
  console.info(report);
});
