/**
 * Clustered functions and clustered HTTP with Chromium pages and Node edge processes over real WebRTC:
 * - 1,000 calls of an unkeyed clustered function from a browser page and an edge peer spread over 3 capable peers
 *   (two pages, one edge), none above 50%; keyed calls from both always run on the key's owner.
 * - Node's fetch against the example edge server (examples/edge-http): the clustered route runs on the key's
 *   owner, a browser tab for some users (the response says where); a retry with the same request key is
 *   answered from the tab's table of responses; a streamed response comes from the tab.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { startCluster, type Cluster, type PagePeer } from 'meshrtc/testing/cluster';
import type { Mesh } from 'meshrtc';
import { meshEnv, startClusteredEdge, startExampleServer, type Driven } from '../test/fixtures/clustered-driver.js';
import type { ClusteredPageHelpers } from './fixtures/clustered-actors.js';

const actors = new URL('./fixtures/clustered-actors.ts', import.meta.url);
let cluster: Cluster | undefined;
const procs: Driven[] = [];
const dirs: string[] = [];

test.afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGTERM')));
  await cluster?.close();
  cluster = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Runs `fn(helpers, mesh, arg)` in a page. */
function inPage<R, A>(page: PagePeer, fn: (helpers: ClusteredPageHelpers, mesh: Mesh, arg: A) => R | Promise<R>, arg: A): Promise<R> {
  return page.evaluate(
    (h, a) => {
      const f = new Function(`return (${a.src})`)() as (helpers: unknown, mesh: unknown, arg: unknown) => unknown;
      return f((globalThis as unknown as { __clustered: unknown }).__clustered, h.mesh, a.arg) as R;
    },
    { src: fn.toString(), arg },
  );
}

/** Waits until every page and driven process sees exactly `ids`. */
async function converge(pages: readonly PagePeer[], edges: readonly Driven[], ids: string[]): Promise<void> {
  const want = [...ids].sort().join(',');
  for (let i = 0; i < 600; i++) {
    const seen = await Promise.all([
      ...pages.map((p) => p.peerIds().then((x) => x.join(','))),
      ...edges.map((e) => e.send<{ peers: string[] }>('stats').then((s) => [...s.peers].sort().join(','))),
    ]);
    if (seen.every((s) => s === want)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`peers did not converge on [${want}]`);
}

test('1,000 clustered calls from a page and an edge spread over 3 capable peers; keyed calls run on the owner', async () => {
  cluster = await startCluster({ actors, pages: [{ capabilities: ['work'] }, { capabilities: ['work'] }, { capabilities: [] }] });
  const [pageA, pageB, callerPage] = cluster.pages as [PagePeer, PagePeer, PagePeer];
  for (const p of cluster.pages) await inPage(p, (h, mesh) => h.setup(mesh), null);
  const dir = mkdtempSync(join(tmpdir(), 'meshrtc-clustered-e2e-'));
  dirs.push(dir);
  const edgeWorker = await startClusteredEdge(meshEnv(cluster.signalingUrl, cluster.room, { capabilities: ['work', 'ledger'], peerId: 'edge-worker', dataDir: join(dir, 'w') }));
  procs.push(edgeWorker);
  const edgeCaller = await startClusteredEdge(meshEnv(cluster.signalingUrl, cluster.room, { peerId: 'edge-caller' }));
  procs.push(edgeCaller);
  const capable = [pageA.peerId, pageB.peerId, 'edge-worker'].sort();
  await converge(cluster.pages, [edgeWorker, edgeCaller], [...cluster.pages.map((p) => p.peerId), 'edge-worker', 'edge-caller']);

  // Each call works 10 ms, as a real function does: least-in-flight then gives each executor about a third (with
  // an empty function, the executor behind the fastest link would take the largest share).
  // A warm-up round, not counted, opens every caller's links to every executor first (about 100 ms each), so the
  // measured calls do not pile up on the executors already connected while another link is still being set up.
  await Promise.all([
    inPage(callerPage, (h, mesh, a) => h.spread(mesh, a.count, a.concurrency, a.delayMs), { count: 48, concurrency: 8, delayMs: 10 }),
    edgeCaller.send<{ served: Record<string, number>; failures: number }>('spread', { count: 48, concurrency: 8, delayMs: 10 }),
  ]);
  const runsOf = async (): Promise<number[]> => [
    ...((await Promise.all([pageA, pageB].map((p) => inPage(p, (h) => h.runs()['where'] ?? 0, null)))) as number[]),
    (await edgeWorker.send<{ runs: Record<string, number> }>('stats')).runs['where'] ?? 0,
  ];
  const before = await runsOf();
  const [fromPage, fromEdge] = await Promise.all([
    inPage(callerPage, (h, mesh, a) => h.spread(mesh, a.count, a.concurrency, a.delayMs), { count: 500, concurrency: 8, delayMs: 10 }),
    edgeCaller.send<{ served: Record<string, number>; failures: number }>('spread', { count: 500, concurrency: 8, delayMs: 10 }),
  ]);
  expect(fromPage.failures).toEqual([]);
  expect(fromEdge.failures).toBe(0);
  const total: Record<string, number> = {};
  for (const served of [fromPage.served, fromEdge.served]) for (const [peer, n] of Object.entries(served)) total[peer] = (total[peer] ?? 0) + n;
  console.log('1,000 calls from', callerPage.peerId, 'and edge-caller:', total);
  expect(Object.keys(total).sort()).toEqual(capable);
  expect(Object.values(total).reduce((a, b) => a + b, 0)).toBe(1000);
  for (const n of Object.values(total)) expect(n).toBeLessThanOrEqual(500);
  // The executors agree: what they ran adds up to what the callers saw.
  const after = await runsOf();
  const ran = after.map((n, i) => n - before[i]!);
  const edgeRan = ran[2]!;
  expect(ran[0]! + ran[1]! + edgeRan).toBe(1000);
  expect(total[pageA.peerId]).toBe(ran[0]);
  expect(total['edge-worker']).toBe(edgeRan);

  // Keyed: always the key's owner, from the page and from the edge, whatever the caller's runtime.
  const keys = Array.from({ length: 40 }, (_, i) => `k-${i}`);
  const [pageKeyed, edgeKeyed] = await Promise.all([
    inPage(callerPage, (h, mesh, a) => h.keyed(mesh, a), keys),
    edgeCaller.send<Array<{ key: string; peerId: string; owner: string | null }>>('keyed', { keys }),
  ]);
  for (const results of [pageKeyed, edgeKeyed]) {
    for (const r of results) {
      expect(r.peerId, r.key).toBe(r.owner);
      expect(r.peerId, r.key).toBe(await pageA.ownerOf('work', r.key));
    }
    expect(new Set(results.map((r) => r.peerId)).size).toBe(3);
  }
});

test('HTTP: Node fetch hits the example edge server; clustered requests run on the key owner, a browser tab included', async () => {
  cluster = await startCluster({ actors, pages: [{ capabilities: ['http'] }] });
  const tab = cluster.pages[0]!;
  await inPage(tab, (h, mesh) => h.setupHttp(mesh), null);
  const server = await startExampleServer(meshEnv(cluster.signalingUrl, cluster.room, { capabilities: ['http'], peerId: 'edge-http', actors: false }));
  procs.push(server);
  const base = server.url!;
  for (let i = 0; i < 600; i++) {
    const health = (await (await fetch(`${base}/health`)).json()) as { peers: number };
    if (health.peers === 2 && (await tab.peerIds()).length === 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }

  const where = new Map<string, { peer: string; runtime: string }>();
  for (let i = 0; i < 24; i++) {
    const user = `u${i}`;
    const res = await fetch(`${base}/users/${user}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { user: string; servedBy: string; runtime: string };
    const peer = res.headers.get('x-mesh-peer')!;
    expect(peer).toBe(await tab.ownerOf('http', user));
    expect(body.servedBy).toBe(peer);
    expect(body.runtime).toBe(peer === tab.peerId ? 'browser' : 'node');
    where.set(user, { peer, runtime: body.runtime });
  }
  const tabUser = [...where].find(([, w]) => w.runtime === 'browser')?.[0];
  expect(tabUser, 'some user lives on the tab').toBeDefined();
  expect([...where.values()].some((w) => w.runtime === 'node')).toBe(true);

  // A POST owned by the tab, then a retry with the same request key: answered from the tab's table.
  const before = (await (await fetch(`${base}/users/${tabUser}`)).json()) as { handled: number };
  const post = (): Promise<Response> =>
    fetch(`${base}/users/${tabUser}/notes`, { method: 'POST', headers: { 'x-mesh-request-key': 'e2e-note-1' }, body: 'from node fetch' });
  const first = await post();
  expect(first.status).toBe(201);
  expect(first.headers.get('x-mesh-request-key')).toBe('e2e-note-1');
  expect(first.headers.get('x-mesh-peer')).toBe(tab.peerId);
  const firstBody = await first.json();
  expect(firstBody).toMatchObject({ runtime: 'browser', note: 'from node fetch', servedBy: tab.peerId });
  const retry = await post();
  expect(retry.status).toBe(201);
  expect(retry.headers.get('x-mesh-replayed')).toBe('1');
  expect(await retry.json()).toEqual(firstBody);
  const after = (await (await fetch(`${base}/users/${tabUser}`)).json()) as { handled: number };
  expect(after.handled).toBe(before.handled + 2); // the GET and the first POST; the retry did not run

  // A streamed response from the tab.
  const stream = await fetch(`${base}/users/${tabUser}/stream?parts=12`);
  expect(stream.headers.get('x-mesh-peer')).toBe(tab.peerId);
  const lines = (await stream.text()).trim().split('\n');
  expect(lines).toHaveLength(12);
  expect(lines[11]).toBe(`part 12 of 12 for ${tabUser} from ${tab.peerId}`);
});
