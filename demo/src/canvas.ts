/**
 * The world on a canvas: pixels (scaled up, crisp), region borders coloured by the peer that owns each region,
 * a flash where ownership just moved, other players' cursors with their names, and this player's brush.
 * Redraws on the next animation frame after a change, never on a timer.
 */
import { shortId } from 'meshrtc/dashboard';
import { PALETTE, REGION_SIZE, WORLD_H, WORLD_W } from '../actors.js';
import type { World } from './world.js';

/** What the canvas asks the page. */
export interface CanvasHost {
  /** The selected tool: palette index (0 erases) and brush size. */
  tool(): { color: number; size: number };
  showOwners(): boolean;
  peerColor(peerId: string | undefined): string;
  selfId: string;
  /** The pointer is over a region (undefined: left the world). */
  onHover(regionId: string | undefined): void;
}

const FLASH_MS = 1600;

export class WorldCanvas {
  readonly element: HTMLDivElement;
  readonly #canvas: HTMLCanvasElement;
  readonly #ctx: CanvasRenderingContext2D;
  readonly #base: HTMLCanvasElement;
  readonly #baseCtx: CanvasRenderingContext2D;
  readonly #image: ImageData;
  readonly #world: World;
  readonly #host: CanvasHost;
  readonly #rgb: Array<[number, number, number]>;
  #scale = 6;
  #frame = 0;
  #hover: { x: number; y: number } | undefined;
  #drawing: { x: number; y: number } | undefined;
  readonly #resize: ResizeObserver;
  readonly #unsubscribe: () => void;

  constructor(world: World, host: CanvasHost) {
    this.#world = world;
    this.#host = host;
    this.#rgb = PALETTE.map(hexToRgb);
    this.element = document.createElement('div');
    this.element.className = 'world-canvas';
    this.#canvas = document.createElement('canvas');
    this.#canvas.setAttribute('aria-label', 'the shared pixel world');
    this.#canvas.dataset['testid'] = 'world';
    this.element.append(this.#canvas);
    this.#ctx = this.#canvas.getContext('2d')!;
    this.#base = document.createElement('canvas');
    this.#base.width = WORLD_W;
    this.#base.height = WORLD_H;
    this.#baseCtx = this.#base.getContext('2d')!;
    this.#image = this.#baseCtx.createImageData(WORLD_W, WORLD_H);
    for (let y = 0; y < WORLD_H; y++) for (let x = 0; x < WORLD_W; x++) this.#setPixel(x, y);
    this.#baseCtx.putImageData(this.#image, 0, 0);

    this.#unsubscribe = world.onChange((change) => {
      if (change.pixels !== undefined) {
        for (const [x, y] of change.pixels) this.#setPixel(x, y);
        this.#baseCtx.putImageData(this.#image, 0, 0);
      }
      this.invalidate();
    });
    this.#canvas.addEventListener('pointerdown', (e) => this.#onDown(e));
    this.#canvas.addEventListener('pointermove', (e) => this.#onMove(e));
    this.#canvas.addEventListener('pointerup', () => (this.#drawing = undefined));
    this.#canvas.addEventListener('pointercancel', () => (this.#drawing = undefined));
    this.#canvas.addEventListener('pointerleave', () => {
      this.#hover = undefined;
      this.#host.onHover(undefined);
      this.#world.hideCursor();
      this.invalidate();
    });
    this.#canvas.addEventListener('contextmenu', (e) => e.preventDefault());
    this.#resize = new ResizeObserver(() => this.#fit());
    this.#resize.observe(this.element);
  }

  /** Asks for a redraw on the next frame. */
  invalidate(): void {
    if (this.#frame !== 0) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.#draw();
    });
  }

  destroy(): void {
    this.#unsubscribe();
    this.#resize.disconnect();
    if (this.#frame !== 0) cancelAnimationFrame(this.#frame);
  }

  /** Screen position of a world pixel's centre, relative to the viewport (for tests and tooltips). */
  pixelCenter(x: number, y: number): { clientX: number; clientY: number } {
    const r = this.#canvas.getBoundingClientRect();
    return { clientX: r.left + (x + 0.5) * this.#scale, clientY: r.top + (y + 0.5) * this.#scale };
  }

  #fit(): void {
    const width = this.element.clientWidth;
    const height = this.element.clientHeight;
    const scale = Math.max(2, Math.floor(Math.min(width / WORLD_W, height / WORLD_H)));
    const dpr = window.devicePixelRatio || 1;
    this.#scale = scale;
    this.#canvas.style.width = `${WORLD_W * scale}px`;
    this.#canvas.style.height = `${WORLD_H * scale}px`;
    this.#canvas.width = Math.round(WORLD_W * scale * dpr);
    this.#canvas.height = Math.round(WORLD_H * scale * dpr);
    this.#ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.invalidate();
  }

  #setPixel(x: number, y: number): void {
    const c = this.#world.colorAt(x, y);
    const [r, g, b] = this.#rgb[c] ?? this.#rgb[0]!;
    const o = (y * WORLD_W + x) * 4;
    const d = this.#image.data;
    d[o] = r;
    d[o + 1] = g;
    d[o + 2] = b;
    d[o + 3] = 255;
  }

  #pixelOf(e: PointerEvent): { x: number; y: number } {
    const r = this.#canvas.getBoundingClientRect();
    return { x: (e.clientX - r.left) / this.#scale, y: (e.clientY - r.top) / this.#scale };
  }

  #onDown(e: PointerEvent): void {
    if (e.button !== 0) return;
    this.#canvas.setPointerCapture(e.pointerId);
    const p = this.#pixelOf(e);
    const at = { x: Math.floor(p.x), y: Math.floor(p.y) };
    this.#drawing = at;
    this.#paintLine(at, at);
  }

  #onMove(e: PointerEvent): void {
    const p = this.#pixelOf(e);
    const at = { x: Math.floor(p.x), y: Math.floor(p.y) };
    const inside = at.x >= 0 && at.y >= 0 && at.x < WORLD_W && at.y < WORLD_H;
    const before = this.#hover;
    this.#hover = inside ? at : undefined;
    if (before?.x !== this.#hover?.x || before?.y !== this.#hover?.y) {
      this.#host.onHover(inside ? this.#world.regionIdAt(at.x, at.y) : undefined);
      this.invalidate();
    }
    if (inside) this.#world.moveCursor(p.x, p.y, this.#host.tool().color);
    if (this.#drawing !== undefined) {
      this.#paintLine(this.#drawing, at);
      this.#drawing = at;
    }
  }

  /** Paints the brush along a line (Bresenham), so fast strokes have no gaps. */
  #paintLine(from: { x: number; y: number }, to: { x: number; y: number }): void {
    const { color, size } = this.#host.tool();
    const points = new Map<number, [number, number]>();
    const stamp = (cx: number, cy: number): void => {
      const o = Math.floor((size - 1) / 2);
      for (let dy = 0; dy < size; dy++) {
        for (let dx = 0; dx < size; dx++) {
          const x = cx - o + dx;
          const y = cy - o + dy;
          if (x >= 0 && y >= 0 && x < WORLD_W && y < WORLD_H) points.set(y * WORLD_W + x, [x, y]);
        }
      }
    };
    let { x, y } = from;
    const dx = Math.abs(to.x - x);
    const dy = -Math.abs(to.y - y);
    const sx = x < to.x ? 1 : -1;
    const sy = y < to.y ? 1 : -1;
    let err = dx + dy;
    for (;;) {
      stamp(x, y);
      if (x === to.x && y === to.y) break;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y += sy;
      }
    }
    const fresh = [...points.values()].filter(([px, py]) => this.#world.colorAt(px, py) !== color);
    if (fresh.length > 0) this.#world.paint(fresh, color);
  }

  #draw(): void {
    const ctx = this.#ctx;
    const s = this.#scale;
    const w = WORLD_W * s;
    const h = WORLD_H * s;
    const now = performance.now();
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, w, h);
    ctx.drawImage(this.#base, 0, 0, w, h);

    // A faint pixel grid where pixels are big enough to aim at.
    if (s >= 6) {
      ctx.strokeStyle = 'rgba(255,255,255,0.035)';
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let x = 1; x < WORLD_W; x++) {
        ctx.moveTo(x * s + 0.5, 0);
        ctx.lineTo(x * s + 0.5, h);
      }
      for (let y = 1; y < WORLD_H; y++) {
        ctx.moveTo(0, y * s + 0.5);
        ctx.lineTo(w, y * s + 0.5);
      }
      ctx.stroke();
    }

    const rs = REGION_SIZE * s;
    const showOwners = this.#host.showOwners();
    let animating = false;
    for (const r of this.#world.regions()) {
      const x0 = r.rx * rs;
      const y0 = r.ry * rs;
      const color = this.#host.peerColor(r.owner);
      const flash = now - r.movedAt;
      if (flash < FLASH_MS) {
        animating = true;
        ctx.fillStyle = withAlpha(color, 0.45 * (1 - flash / FLASH_MS));
        ctx.fillRect(x0, y0, rs, rs);
      }
      if (!r.loaded) {
        ctx.fillStyle = 'rgba(10,12,18,0.55)';
        ctx.fillRect(x0, y0, rs, rs);
      }
      if (showOwners) {
        ctx.strokeStyle = withAlpha(color, r.owner === this.#host.selfId ? 0.95 : 0.6);
        ctx.lineWidth = r.owner === this.#host.selfId ? 3 : 2;
        ctx.strokeRect(x0 + 2, y0 + 2, rs - 4, rs - 4);
        if (rs >= 64 && r.owner !== undefined) {
          const label = r.owner === this.#host.selfId ? 'you' : shortId(r.owner);
          ctx.font = '600 10px ui-monospace, SFMono-Regular, Menlo, monospace';
          const tw = ctx.measureText(label).width;
          ctx.fillStyle = withAlpha(color, 0.9);
          roundRect(ctx, x0 + 5, y0 + rs - 19, tw + 10, 14, 4);
          ctx.fill();
          ctx.fillStyle = '#0b0e14';
          ctx.fillText(label, x0 + 10, y0 + rs - 8.5);
        }
      } else {
        ctx.strokeStyle = 'rgba(255,255,255,0.07)';
        ctx.lineWidth = 1;
        ctx.strokeRect(x0 + 0.5, y0 + 0.5, rs, rs);
      }
    }

    if (this.#hover !== undefined) {
      const rx = Math.floor(this.#hover.x / REGION_SIZE);
      const ry = Math.floor(this.#hover.y / REGION_SIZE);
      ctx.strokeStyle = 'rgba(255,255,255,0.35)';
      ctx.lineWidth = 1;
      ctx.strokeRect(rx * rs + 0.5, ry * rs + 0.5, rs - 1, rs - 1);
      const { color, size } = this.#host.tool();
      const o = Math.floor((size - 1) / 2);
      ctx.strokeStyle = color === 0 ? '#ffffff' : (PALETTE[color] ?? '#fff');
      ctx.lineWidth = 2;
      ctx.strokeRect((this.#hover.x - o) * s + 1, (this.#hover.y - o) * s + 1, size * s - 2, size * s - 2);
    }

    for (const c of this.#world.cursors()) this.#drawCursor(c.x * s, c.y * s, PALETTE[c.player.color] ?? '#fff', c.player.name, PALETTE[c.tool] ?? '#fff');
    if (animating) this.invalidate();
  }

  #drawCursor(x: number, y: number, color: string, name: string, tool: string): void {
    const ctx = this.#ctx;
    ctx.save();
    ctx.translate(Math.round(x), Math.round(y));
    ctx.beginPath();
    ctx.moveTo(0, 0);
    ctx.lineTo(0, 15);
    ctx.lineTo(4, 11.5);
    ctx.lineTo(7, 18);
    ctx.lineTo(9.5, 17);
    ctx.lineTo(6.6, 10.6);
    ctx.lineTo(11.5, 10.6);
    ctx.closePath();
    ctx.fillStyle = color;
    ctx.strokeStyle = '#0b0e14';
    ctx.lineWidth = 1.5;
    ctx.fill();
    ctx.stroke();
    ctx.font = '600 11px system-ui, -apple-system, Segoe UI, sans-serif';
    const tw = ctx.measureText(name).width;
    ctx.fillStyle = color;
    roundRect(ctx, 12, 14, tw + 22, 17, 8.5);
    ctx.fill();
    ctx.fillStyle = tool;
    ctx.strokeStyle = 'rgba(11,14,20,0.6)';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.arc(21, 22.5, 4, 0, Math.PI * 2);
    ctx.fill();
    ctx.stroke();
    ctx.fillStyle = '#0b0e14';
    ctx.fillText(name, 28, 26.5);
    ctx.restore();
  }
}

function hexToRgb(hex: string): [number, number, number] {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function withAlpha(hex: string, alpha: number): string {
  const [r, g, b] = hexToRgb(hex);
  return `rgba(${r},${g},${b},${alpha.toFixed(3)})`;
}

function roundRect(ctx: CanvasRenderingContext2D, x: number, y: number, w: number, h: number, r: number): void {
  ctx.beginPath();
  ctx.roundRect(x, y, w, h, r);
}
