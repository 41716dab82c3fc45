/**
 * The Pixel Mesh demo on the real stack: the launcher's signaling server, Node edge peer and Vite server, and
 * Chromium tabs that serve `world` themselves. Two tabs play together; the painting survives reloading every tab;
 * closing the tab that owns a region loses no stroke; a subscription follows its actor when the owner tab closes.
 */
import { expect, test } from '@playwright/test';
import type { Page } from 'playwright-core';
import { REGION_SIZE, regionCoords, type RegionEvent } from '../demo/actors.js';
import {
  clickPixel,
  colorAt,
  ownerOfRegion,
  selectColor,
  startDemoSession,
  tabState,
  waitLive,
  waitPeers,
  waitSynced,
  type DemoSession,
  type PageGlobals,
} from '../demo/testing.js';

let session: DemoSession | undefined;

test.afterEach(async ({}, testInfo) => {
  if (session !== undefined && testInfo.status !== testInfo.expectedStatus) testInfo.annotations.push({ type: 'page errors', description: session.errors.join('\n') });
  await session?.close();
  session = undefined;
});

/** A region owned by `owner` as `asker` sees the ring. */
async function regionOwnedBy(asker: Page, owner: string): Promise<string> {
  const id = await asker.evaluate((o) => {
    const g = (globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh;
    for (let ry = 0; ry < 6; ry++) for (let rx = 0; rx < 8; rx++) if (g.mesh.ownerOf('world', `r${rx}-${ry}`) === o) return `r${rx}-${ry}`;
    return undefined;
  }, owner);
  if (id === undefined) throw new Error(`no region owned by ${owner}`);
  return id;
}

test('two tabs play together: a stroke in one shows in the other within 1 s, with cursors and chat', async () => {
  session = await startDemoSession();
  const a = await session.openTab();
  const b = await session.openTab();
  await waitPeers(a, 3);
  await waitPeers(b, 3);
  const [sa, sb] = [await tabState(a), await tabState(b)];
  expect(sa.peerId).not.toBe(sb.peerId);
  await expect(a.getByTestId('status')).toHaveText(/Live · 3 peers/);

  // Paint in a region owned by the other tab, one owned by the edge and one owned by the painter itself.
  const edgeId = session.demo.edge!.peerId;
  const targets = [await regionOwnedBy(a, sb.peerId), await regionOwnedBy(a, edgeId), await regionOwnedBy(a, sa.peerId)];
  for (const [k, region] of targets.entries()) {
    const { rx, ry } = regionCoords(region)!;
    const x = rx * REGION_SIZE + 3 + k;
    const y = ry * REGION_SIZE + 5;
    const color = 5 + k;
    await selectColor(a, color);
    const started = Date.now();
    await clickPixel(a, x, y);
    await b.waitForFunction(([px, py, c]) => (globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh.world.colorAt(px!, py!) === c, [x, y, color], {
      polling: 'raf',
      timeout: 1000,
    });
    const elapsed = Date.now() - started;
    test.info().annotations.push({ type: 'stroke latency', description: `${region} (owner ${await ownerOfRegion(a, region)}): ${elapsed} ms` });
    expect(elapsed, `stroke in ${region} reached the other tab after ${elapsed} ms`).toBeLessThan(1000);
  }

  // B sees A's cursor (hovering over the world), live.
  await b.waitForFunction((id) => [...(globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh.world.cursors()].some((c) => c.player.id === id), sa.peerId, {
    timeout: 2000,
  });

  // Chat in the lobby actor (capability chat, on the edge peer).
  await a.getByTestId('chat-input').fill('hello from tab A');
  await a.getByTestId('chat-input').press('Enter');
  await expect(b.getByTestId('chat-list')).toContainText('hello from tab A');

  await waitSynced(a);
  expect(await b.getByTestId('scores').textContent()).toContain('3');
  await b.screenshot({ path: test.info().outputPath('two-tabs.png') });
  expect(session.errors).toEqual([]);
});

test('the painting survives reloading every tab', async () => {
  session = await startDemoSession();
  const tabs = [await session.openTab(), await session.openTab()];
  await waitPeers(tabs[0]!, 3);
  // Every region gets a stroke from one tab or the other (so regions owned by each tab and by the edge).
  const expected = new Map<string, number>();
  for (let ry = 0; ry < 6; ry++) {
    for (let rx = 0; rx < 8; rx++) {
      const tab = tabs[(rx + ry) % 2]!;
      const points: Array<[number, number]> = [];
      const color = 1 + ((rx * 6 + ry) % 15);
      for (let k = 0; k < 6; k++) points.push([rx * REGION_SIZE + 2 + k, ry * REGION_SIZE + 2 + k]);
      await tab.evaluate(([p, c]) => (globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh.world.paint(p as Array<[number, number]>, c as number), [points, color] as const);
      for (const [x, y] of points) expected.set(`${x},${y}`, color);
    }
  }
  for (const tab of tabs) await waitSynced(tab);
  const idsBefore = await Promise.all(tabs.map(async (t) => (await tabState(t)).peerId));

  await Promise.all(tabs.map((t) => t.reload()));
  for (const tab of tabs) await waitLive(tab);
  expect(await Promise.all(tabs.map(async (t) => (await tabState(t)).peerId))).toEqual(idsBefore);
  for (const tab of tabs) {
    const seen = await tab.evaluate(
      (points) => points.map(([x, y]) => (globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh.world.colorAt(x, y)),
      [...expected.keys()].map((k) => k.split(',').map(Number) as [number, number]),
    );
    expect(seen).toEqual([...expected.values()]);
  }
  expect(session.errors).toEqual([]);
});

test('closing the tab that owns a region: its standby takes over and no stroke is lost', async () => {
  session = await startDemoSession();
  const painter = await session.openTab();
  const owner = await session.openTab();
  await waitPeers(painter, 3);
  const ownerId = (await tabState(owner)).peerId;
  const region = await regionOwnedBy(painter, ownerId);
  const { rx, ry } = regionCoords(region)!;
  const standby = await painter.evaluate((id) => (globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh.mesh.preferenceList('world', id, 2)[1], region);

  // 256 strokes into the region, one every 8 ms, while its owner tab closes a third of the way through.
  const painting = painter.evaluate(
    async ([x0, y0, size]) => {
      const g = (globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh;
      for (let i = 0; i < size! * size!; i++) {
        g.world.paint([[x0! + (i % size!), y0! + Math.floor(i / size!)]], 1 + (i % 15));
        await new Promise((r) => setTimeout(r, 8));
      }
    },
    [rx * REGION_SIZE, ry * REGION_SIZE, REGION_SIZE],
  );
  await painter.waitForTimeout(700);
  await owner.close({ runBeforeUnload: false });
  await painting;
  await waitPeers(painter, 2);
  expect(await ownerOfRegion(painter, region)).toBe(standby);
  await waitSynced(painter, 30_000);

  // The region as its new owner serves it: every stroke is there.
  const snapshot = await painter.evaluate(async (id) => {
    const g = (globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh;
    return (await g.mesh.call<{ px: number[]; seq: number }>({ capability: 'world', type: 'region', id, payload: { op: 'snapshot' } })).reply;
  }, region);
  expect(snapshot.px).toEqual(Array.from({ length: REGION_SIZE * REGION_SIZE }, (_, i) => 1 + (i % 15)));
  // And the painter shows exactly that.
  for (const i of [0, 77, 128, 255]) expect(await colorAt(painter, rx * REGION_SIZE + (i % REGION_SIZE), ry * REGION_SIZE + Math.floor(i / REGION_SIZE))).toBe(1 + (i % 15));
  expect(session.errors).toEqual([]);
});

test('a subscription to a region owned by another tab gets every event in order, across the owner tab closing', async () => {
  session = await startDemoSession();
  const watcher = await session.openTab();
  const owner = await session.openTab();
  await waitPeers(watcher, 3);
  const ownerId = (await tabState(owner)).peerId;
  const region = await regionOwnedBy(watcher, ownerId);

  // The watcher subscribes (as any app would) and records the region's sequence numbers and any error.
  await watcher.evaluate((id) => {
    const g = (globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh;
    const log = { seqs: [] as number[], errors: [] as string[] };
    (globalThis as unknown as { __log: typeof log }).__log = log;
    g.mesh.subscribe<RegionEvent>({ capability: 'world', type: 'region', id }, (e) => log.seqs.push(e.seq), { onError: (e) => log.errors.push(e.code) });
  }, region);
  // Make sure the subscription is registered at the owner before the first paint.
  await watcher.waitForTimeout(300);

  // The edge peer paints: 60 sequential calls; the owner tab closes after 20.
  const edge = session.demo.edge!;
  const paint = (i: number) =>
    edge.call(
      { capability: 'world', type: 'region', id: region, payload: { op: 'paint', arg: { player: { id: 'edge-bot', name: 'Edge Bot', color: 3 }, pixels: [[i, 1 + (i % 15)]] } } },
      { idempotencyKey: `bot-${region}-${i}`, timeoutMs: 10_000 },
    );
  const first = (await paint(0)).reply as number;
  for (let i = 1; i < 20; i++) await paint(i);
  await owner.close({ runBeforeUnload: false });
  for (let i = 20; i < 60; i++) await paint(i);

  await watcher.waitForFunction((n) => (globalThis as unknown as { __log: { seqs: number[] } }).__log.seqs.length >= n, 60, { timeout: 15_000 });
  const log = await watcher.evaluate(() => (globalThis as unknown as { __log: { seqs: number[]; errors: string[] } }).__log);
  expect(log.seqs).toEqual(Array.from({ length: 60 }, (_, i) => first + i));
  expect(log.errors).toEqual([]);
  expect(await ownerOfRegion(watcher, region)).not.toBe(ownerId);
  expect(session.errors).toEqual([]);
});
