/**
 * Takes the README's screenshots: `docs/demo.png` (the game, two players painting a sunset) and
 * `docs/dashboard.png` (the dashboard watching that room while a player paints).
 *
 *   npx tsx demo/scripts/screenshots.ts [outDir]      (default docs/)
 *
 * Runs the whole demo on free ports with loopback-only WebRTC, like the e2e tests (and, like them, inside a
 * loopback-only network namespace it creates; `MESHRTC_NETNS=off` opts out).
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { ensureLoopbackNamespace } from '../../src/testing/netns.js';
import { WORLD_H, WORLD_W } from '../actors.js';
import { startDemoSession, waitPeers, waitSynced, type PageGlobals } from '../testing.js';

await ensureLoopbackNamespace(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? fileURLToPath(new URL('../../docs/', import.meta.url)));
await mkdir(out, { recursive: true });

// ---------------------------------------------------------------- the picture: a pixel-art sunset

/** 5x7 glyphs. */
const FONT: Record<string, string[]> = {
  P: ['1111.', '1...1', '1...1', '1111.', '1....', '1....', '1....'],
  I: ['111', '.1.', '.1.', '.1.', '.1.', '.1.', '111'],
  X: ['1...1', '1...1', '.1.1.', '..1..', '.1.1.', '1...1', '1...1'],
  E: ['11111', '1....', '1....', '1111.', '1....', '1....', '11111'],
  L: ['1....', '1....', '1....', '1....', '1....', '1....', '11111'],
  M: ['1...1', '11.11', '1.1.1', '1.1.1', '1...1', '1...1', '1...1'],
  S: ['.1111', '1....', '1....', '.111.', '....1', '....1', '1111.'],
  H: ['1...1', '1...1', '1...1', '11111', '1...1', '1...1', '1...1'],
  ' ': ['..', '..', '..', '..', '..', '..', '..'],
};

function picture(): number[][] {
  const px: number[][] = Array.from({ length: WORLD_H }, () => new Array<number>(WORLD_W).fill(0));
  const horizon = 62;
  const sunX = 64;
  const sunY = 60;
  // Sky: bands from deep blue to warm, dithered at the seams.
  const bands: Array<[number, number]> = [
    [0, 11],
    [16, 13],
    [30, 6],
    [40, 4],
    [49, 3],
    [56, 2],
  ];
  for (let y = 0; y < horizon; y++) {
    for (let x = 0; x < WORLD_W; x++) {
      let c = bands[0]![1];
      for (let k = 0; k < bands.length; k++) {
        const [start, color] = bands[k]!;
        if (y >= start) c = color;
        // Two rows of checkerboard dither before each band starts.
        if (y >= start - 2 && y < start && (x + y) % 2 === 0) c = color;
      }
      px[y]![x] = c;
    }
  }
  // Stars.
  for (const [x, y] of [[5, 3], [19, 9], [33, 2], [47, 12], [58, 5], [77, 11], [91, 3], [103, 8], [117, 4], [124, 13], [12, 14], [70, 1]] as const) px[y]![x] = 1;
  // The sun, sinking.
  for (let y = 0; y < horizon; y++) {
    for (let x = 0; x < WORLD_W; x++) {
      const d = Math.hypot(x - sunX, (y - sunY) * 1.05);
      if (d < 14) px[y]![x] = d < 10 ? 1 : 2;
    }
  }
  // Mountains: a far violet range and a near teal one.
  for (let x = 0; x < WORLD_W; x++) {
    const far = Math.round(46 + 7 * Math.sin(x / 9) + 4 * Math.sin(x / 4.3 + 1));
    const near = Math.round(54 + 5 * Math.sin(x / 13 + 2) + 3 * Math.cos(x / 5.1));
    for (let y = Math.max(0, far); y < horizon; y++) if (x < 40 || x > 88 || y > 58) px[y]![x] = 15;
    for (let y = Math.max(0, near); y < horizon; y++) if (x < 46 || x > 82) px[y]![x] = 9;
  }
  // Water, with the sun's reflection.
  for (let y = horizon; y < WORLD_H; y++) {
    for (let x = 0; x < WORLD_W; x++) {
      const depth = y - horizon;
      let c = depth < 6 ? 10 : depth < 18 ? 11 : 9;
      if ((x * 7 + y * 3) % 23 === 0) c = 12;
      const spread = 14 - depth * 0.3;
      if (Math.abs(x - sunX) < spread && y % 3 !== 0 && (x + y) % 2 === 0) c = depth < 12 ? 2 : 3;
      px[y]![x] = c;
    }
  }
  // A little boat.
  for (let x = 22; x < 34; x++) px[73]![x] = 5;
  for (let x = 23; x < 33; x++) px[74]![x] = 6;
  for (let y = 64; y < 73; y++) px[y]![28] = 1;
  for (let y = 65; y < 72; y++) for (let x = 29; x < 29 + (y - 64); x++) px[y]![x] = 1;
  // The title.
  const title = 'PIXEL MESH';
  const width = [...title].reduce((w, ch) => w + FONT[ch]![0]!.length + 2, -2);
  let cx = Math.floor((WORLD_W - width) / 2);
  for (const ch of title) {
    const glyph = FONT[ch]!;
    for (let gy = 0; gy < glyph.length; gy++) for (let gx = 0; gx < glyph[gy]!.length; gx++) if (glyph[gy]![gx] === '1') px[20 + gy]![cx + gx] = 1;
    cx += glyph[0]!.length + 2;
  }
  return px;
}

async function paintHalf(page: Page, px: number[][], fromX: number, toX: number): Promise<void> {
  const byColor = new Map<number, Array<[number, number]>>();
  for (let y = 0; y < WORLD_H; y++) {
    for (let x = fromX; x < toX; x++) {
      const c = px[y]![x]!;
      if (c === 0) continue;
      let list = byColor.get(c);
      if (list === undefined) byColor.set(c, (list = []));
      list.push([x, y]);
    }
  }
  for (const [color, points] of byColor) {
    await page.evaluate(([p, c]) => (globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh.world.paint(p as Array<[number, number]>, c as number), [points, color] as const);
    await page.waitForTimeout(30);
  }
  await waitSynced(page, 60_000);
}

// ---------------------------------------------------------------- the session

const session = await startDemoSession({ viewport: { width: 1440, height: 900 } });
try {
  // The dashboard first, so its feed shows the tabs' actors spawning and regions moving to them.
  const dash = await session.openDashboard();
  const a = await session.openTab();
  const b = await session.openTab();
  await waitPeers(a, 4);
  await waitPeers(b, 4);
  await a.getByTestId('name').fill('Ada');
  await a.getByTestId('name').press('Enter');
  await a.locator('.color-dot').nth(4).click();
  await b.getByTestId('name').fill('Linus');
  await b.getByTestId('name').press('Enter');
  await b.locator('.color-dot').nth(9).click();

  const px = picture();
  await Promise.all([paintHalf(a, px, 0, 64), paintHalf(b, px, 64, WORLD_W)]);

  await a.getByTestId('chat-input').fill('Anyone up for a sunset?');
  await a.getByTestId('chat-input').press('Enter');
  await b.getByTestId('chat-input').fill('On it! Taking the right half.');
  await b.getByTestId('chat-input').press('Enter');
  await a.getByTestId('chat-input').fill('Close your tab and watch the edge take over your regions :)');
  await a.getByTestId('chat-input').press('Enter');

  // Ada's cursor over the water; Linus hovers a region to see who owns it.
  const at = async (page: Page, x: number, y: number) =>
    page.evaluate(([px2, py2]) => (globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh.canvas.pixelCenter(px2!, py2!), [x, y]);
  const pa = await at(a, 30, 80);
  await a.mouse.move(pa.clientX - 40, pa.clientY - 30);
  await a.mouse.move(pa.clientX, pa.clientY, { steps: 8 });
  await b.locator('.swatch[data-color="2"]').click();
  const pb = await at(b, 97, 37);
  await b.mouse.move(pb.clientX - 20, pb.clientY, { steps: 2 });
  await b.mouse.move(pb.clientX, pb.clientY, { steps: 4 });
  await b.waitForTimeout(1200);
  await b.screenshot({ path: resolve(out, 'demo.png') });

  // Traffic for the dashboard: Ada touches up pixels all over the world (same colours, so the picture stays).
  const touchUp = a.evaluate(async ([w, h, colors]) => {
    const g = (globalThis as unknown as { __pixelMesh: PageGlobals }).__pixelMesh;
    for (let i = 0; i < 400; i++) {
      const x = (i * 37) % (w as number);
      const y = (i * 53) % (h as number);
      g.world.paint([[x, y]], (colors as number[][])[y]![x]!);
      await new Promise((r) => setTimeout(r, 25));
    }
  }, [WORLD_W, WORLD_H, px] as const);
  await dash.waitForTimeout(3500);
  await dash.screenshot({ path: resolve(out, 'dashboard.png'), fullPage: true });
  await touchUp;
  if (session.errors.length > 0) console.error(`page errors:\n${session.errors.join('\n')}`);
  console.log(`wrote ${resolve(out, 'demo.png')} and ${resolve(out, 'dashboard.png')}`);
} finally {
  await session.close();
}
