/**
 * The shared world as this tab sees it: every region's pixels (kept in step through subscriptions), the strokes
 * this player has not had acknowledged yet, other players' cursors, and which peer owns each region.
 *
 * Painting is optimistic: pixels show at once (an overlay) and are sent per region in batches, one batch in flight
 * per region, each with an idempotency key that its retries reuse. So a stroke is never lost and never applied
 * twice, even when the region's owner tab closes mid-call: the call is retried on the standby, which answers a
 * batch it already applied from its dedupe table. Overlay pixels are dropped once the region's confirmed state has
 * caught up with the batch that wrote them.
 */
import type { Mesh, MeshErrorCode } from 'meshrtc';
import {
  PALETTE,
  REGION_SIZE,
  REGIONS_X,
  REGIONS_Y,
  allRegionIds,
  applyPaint,
  regionCoords,
  type CursorArg,
  type PaintArg,
  type Player,
  type PresenceEvent,
  type RegionEvent,
  type RegionSnapshot,
  type RegionState,
} from '../actors.js';

/** A batch of pixel writes for one region. */
interface Batch {
  readonly id: number;
  readonly key: string;
  readonly pixels: Array<[number, number]>;
  attempts: number;
  /** The region sequence number of the paint, once acknowledged. */
  seq?: number;
}

interface Region {
  readonly id: string;
  readonly rx: number;
  readonly ry: number;
  readonly state: RegionState;
  loaded: boolean;
  loading: boolean;
  /** Events that arrived before the snapshot. */
  readonly early: RegionEvent[];
  /** Pixels painted here and not yet confirmed: index -> [colour, batch id]. */
  readonly overlay: Map<number, [number, number]>;
  /** Writes not yet sent (index -> colour; later writes of a pixel replace earlier ones). */
  readonly queue: Map<number, number>;
  inflight: Batch | undefined;
  /** Acknowledged batches whose events have not arrived yet. */
  readonly acked: Batch[];
  owner: string | undefined;
  standby: string | undefined;
  /** When its owner last changed (for a flash). */
  movedAt: number;
}

/** Another player's cursor, in world pixels. */
export interface Cursor {
  readonly player: Player;
  x: number;
  y: number;
  tool: number;
  seenAt: number;
}

/** What changed, for the renderer. */
export interface WorldChange {
  /** World pixels to redraw (`undefined`: everything). */
  readonly pixels?: ReadonlyArray<readonly [number, number]>;
  readonly cursors?: boolean;
  readonly owners?: boolean;
  readonly sync?: boolean;
}

/** Sync status of this player's strokes. */
export interface SyncStatus {
  /** Pixels painted and not yet acknowledged. */
  readonly pendingPixels: number;
  /** Failed attempts in a row (0 when the last call went through). */
  readonly failures: number;
  /** The last error, while failures > 0. */
  readonly lastError: string | undefined;
  /** Regions whose snapshot has arrived. */
  readonly loadedRegions: number;
  readonly regions: number;
}

/** Errors after which the same call may succeed later (the owner moved, crashed, or is still being found). */
const RETRYABLE = new Set<string>([
  'Timeout',
  'PeerUnavailable',
  'NoPeersForCapability',
  'NotOwner',
  'RetriesExhausted',
  'MailboxFull',
  'Closed',
  'ConnectionFailed',
  'SignalingError',
  'ActivationFailed',
  'StaleEpoch',
  'StorageError',
] satisfies MeshErrorCode[]);

const CURSOR_STALE_MS = 15_000;
const CURSOR_SEND_MS = 50;

let batchSeq = 0;

export class World {
  readonly #mesh: Mesh;
  readonly #regions = new Map<string, Region>();
  readonly #cursors = new Map<string, Cursor>();
  readonly #listeners = new Set<(change: WorldChange) => void>();
  readonly #unsubscribes: Array<() => void> = [];
  #player: Player;
  #failures = 0;
  #lastError: string | undefined;
  #flushScheduled = false;
  #cursorTimer: ReturnType<typeof setTimeout> | undefined;
  #cursorPending: { x: number; y: number; tool: number } | undefined;
  #cursorSentAt = 0;
  #cursorRegion: string | undefined;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(mesh: Mesh, player: Player) {
    this.#mesh = mesh;
    this.#player = player;
    for (const id of allRegionIds()) {
      const { rx, ry } = regionCoords(id)!;
      this.#regions.set(id, {
        id,
        rx,
        ry,
        state: { px: new Array<number>(REGION_SIZE * REGION_SIZE).fill(0), by: new Array<number>(REGION_SIZE * REGION_SIZE).fill(-1), who: [], seq: 0 },
        loaded: false,
        loading: false,
        early: [],
        overlay: new Map(),
        queue: new Map(),
        inflight: undefined,
        acked: [],
        owner: undefined,
        standby: undefined,
        movedAt: -Infinity,
      });
    }
  }

  /** Subscribes to every region and its cursors, loads the snapshots, follows ownership. */
  start(): void {
    for (const region of this.#regions.values()) {
      const address = { capability: 'world', type: 'region', id: region.id };
      this.#unsubscribes.push(
        this.#mesh.subscribe<RegionEvent>(address, (e) => this.#onRegionEvent(region, e), {
          onError: (error) => {
            // Lost events (an owner crashed before they went out): the snapshot is the truth.
            if (error.code === 'EventsLost') void this.#load(region);
          },
        }),
      );
      this.#unsubscribes.push(
        this.#mesh.subscribe<PresenceEvent>({ capability: 'world', type: 'presence', id: region.id }, (e) => this.#onPresence(e)),
      );
      void this.#load(region);
    }
    this.#unsubscribes.push(this.#mesh.table.onChange((c) => c.type === 'view' && this.#updateOwners()));
    this.#updateOwners(true);
    this.#sweeper = setInterval(() => this.#sweepCursors(), 2000);
  }

  /** Stops listening (the page is going away). */
  stop(): void {
    this.#closed = true;
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    if (this.#cursorTimer !== undefined) clearTimeout(this.#cursorTimer);
    for (const u of this.#unsubscribes.splice(0)) u();
  }

  get player(): Player {
    return this.#player;
  }

  set player(p: Player) {
    this.#player = p;
  }

  /** Listens to changes; returns the unsubscribe function. */
  onChange(listener: (change: WorldChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The colour index shown at world pixel `(x, y)` (this player's unconfirmed strokes first). */
  colorAt(x: number, y: number): number {
    const region = this.#regionAt(x, y);
    if (region === undefined) return 0;
    const i = (y % REGION_SIZE) * REGION_SIZE + (x % REGION_SIZE);
    return region.overlay.get(i)?.[0] ?? region.state.px[i] ?? 0;
  }

  /** Paints world pixels with colour `color` (0 erases). */
  paint(points: ReadonlyArray<readonly [number, number]>, color: number): void {
    const changed: Array<[number, number]> = [];
    for (const [x, y] of points) {
      const region = this.#regionAt(x, y);
      if (region === undefined) continue;
      const i = (y % REGION_SIZE) * REGION_SIZE + (x % REGION_SIZE);
      region.queue.set(i, color);
      region.overlay.set(i, [color, -1]);
      changed.push([x, y]);
    }
    if (changed.length === 0) return;
    this.#emit({ pixels: changed, sync: true });
    this.#scheduleFlush();
  }

  /** Shares this player's cursor (world pixel coordinates, fractions allowed); throttled. */
  moveCursor(x: number, y: number, tool: number): void {
    this.#cursorPending = { x, y, tool };
    if (this.#cursorTimer !== undefined) return;
    const wait = Math.max(0, this.#cursorSentAt + CURSOR_SEND_MS - performance.now());
    this.#cursorTimer = setTimeout(() => {
      this.#cursorTimer = undefined;
      this.#sendCursor();
    }, wait);
  }

  /** The player's cursor left the world. */
  hideCursor(): void {
    this.#cursorPending = undefined;
    if (this.#cursorRegion !== undefined) this.#cast(this.#cursorRegion, 'presence', 'gone', this.#player.id);
    this.#cursorRegion = undefined;
  }

  /** Other players' cursors. */
  cursors(): IterableIterator<Cursor> {
    return this.#cursors.values();
  }

  /** Owner, standby and flash time of every region. */
  regions(): Array<{ id: string; rx: number; ry: number; owner: string | undefined; standby: string | undefined; movedAt: number; seq: number; loaded: boolean }> {
    return [...this.#regions.values()].map((r) => ({ id: r.id, rx: r.rx, ry: r.ry, owner: r.owner, standby: r.standby, movedAt: r.movedAt, seq: r.state.seq, loaded: r.loaded }));
  }

  /** Region id at world pixel `(x, y)`. */
  regionIdAt(x: number, y: number): string | undefined {
    return this.#regionAt(x, y)?.id;
  }

  /** Pixels per player id (confirmed state), plus the player records. */
  scores(): Array<{ player: Player; pixels: number }> {
    const byId = new Map<string, { player: Player; pixels: number }>();
    for (const r of this.#regions.values()) {
      const counts = new Array<number>(r.state.who.length).fill(0);
      for (const b of r.state.by) if (b >= 0) counts[b]!++;
      r.state.who.forEach((p, k) => {
        const entry = byId.get(p.id);
        if (entry === undefined) byId.set(p.id, { player: p, pixels: counts[k]! });
        else entry.pixels += counts[k]!;
      });
    }
    return [...byId.values()].filter((s) => s.pixels > 0).sort((a, b) => b.pixels - a.pixels || (a.player.name < b.player.name ? -1 : 1));
  }

  /** How this player's strokes are doing. */
  syncStatus(): SyncStatus {
    let pendingPixels = 0;
    let loadedRegions = 0;
    for (const r of this.#regions.values()) {
      pendingPixels += r.overlay.size;
      if (r.loaded) loadedRegions++;
    }
    return { pendingPixels, failures: this.#failures, lastError: this.#lastError, loadedRegions, regions: this.#regions.size };
  }

  // ------------------------------------------------------------------ regions

  #regionAt(x: number, y: number): Region | undefined {
    if (x < 0 || y < 0 || x >= REGIONS_X * REGION_SIZE || y >= REGIONS_Y * REGION_SIZE) return undefined;
    const rx = Math.floor(x / REGION_SIZE);
    const ry = Math.floor(y / REGION_SIZE);
    return this.#regions.get(`r${rx}-${ry}`);
  }

  async #load(region: Region): Promise<void> {
    if (region.loading || this.#closed) return;
    region.loading = true;
    let delay = 250;
    for (;;) {
      try {
        const { reply } = await this.#mesh.call<RegionSnapshot>(
          { capability: 'world', type: 'region', id: region.id, payload: { op: 'snapshot' } },
          { timeoutMs: 8000, retry: true },
        );
        this.#applySnapshot(region, reply);
        this.#succeeded();
        break;
      } catch (error) {
        if (this.#closed) return;
        this.#failed(error);
        await sleep(delay);
        delay = Math.min(delay * 2, 4000);
      }
    }
    region.loading = false;
  }

  #applySnapshot(region: Region, snap: RegionSnapshot): void {
    if (!region.loaded || snap.seq >= region.state.seq) {
      region.state.px = [...snap.px];
      region.state.by = [...snap.by];
      region.state.who = [...snap.who];
      region.state.seq = snap.seq;
    }
    region.loaded = true;
    const early = region.early.splice(0);
    for (const e of early) if (e.seq > region.state.seq) this.#apply(region, e);
    this.#settleOverlay(region);
    this.#emit({ pixels: regionPixels(region), sync: true });
  }

  #onRegionEvent(region: Region, e: RegionEvent): void {
    if (e === null || typeof e !== 'object' || e.t !== 'paint') return;
    if (!region.loaded) {
      region.early.push(e);
      return;
    }
    if (e.seq <= region.state.seq) return; // already in the snapshot
    if (e.seq > region.state.seq + 1) {
      // A gap: fetch the whole region again; this event and later ones wait for it.
      region.loaded = false;
      region.early.push(e);
      void this.#load(region);
      return;
    }
    this.#apply(region, e);
    this.#settleOverlay(region);
    this.#emit({ pixels: e.pixels.map(([i]) => worldPixel(region, i)), sync: true });
  }

  #apply(region: Region, e: RegionEvent): void {
    applyPaint(region.state, e.player, e.pixels);
    region.state.seq = Math.max(region.state.seq, e.seq);
  }

  /** Drops overlay pixels of acknowledged batches the confirmed state has caught up with. */
  #settleOverlay(region: Region): void {
    let done = -1;
    while (region.acked.length > 0 && region.acked[0]!.seq! <= region.state.seq) done = region.acked.shift()!.id;
    if (done < 0) return;
    for (const [i, [, batch]] of region.overlay) if (batch !== -1 && batch <= done) region.overlay.delete(i);
  }

  // ------------------------------------------------------------------ sending

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // One batch per region per ~frame (a timer, not requestAnimationFrame: a background tab keeps sending).
    setTimeout(() => {
      this.#flushScheduled = false;
      for (const region of this.#regions.values()) this.#flush(region);
    }, 16);
  }

  #flush(region: Region): void {
    if (region.inflight !== undefined || region.queue.size === 0 || this.#closed) return;
    const id = ++batchSeq;
    const pixels = [...region.queue].slice(0, REGION_SIZE * REGION_SIZE);
    region.queue.clear();
    for (const [i, c] of pixels) region.overlay.set(i, [c, id]);
    region.inflight = { id, key: `${this.#player.id}:${Date.now().toString(36)}:${id}`, pixels, attempts: 0 };
    void this.#send(region);
  }

  async #send(region: Region): Promise<void> {
    const batch = region.inflight!;
    const arg: PaintArg = { player: this.#player, pixels: batch.pixels };
    for (;;) {
      batch.attempts++;
      try {
        const { reply } = await this.#mesh.call<number>(
          { capability: 'world', type: 'region', id: region.id, payload: { op: 'paint', arg } },
          { idempotencyKey: batch.key, timeoutMs: 8000 },
        );
        batch.seq = reply;
        region.acked.push(batch);
        region.inflight = undefined;
        this.#succeeded();
        this.#settleOverlay(region);
        this.#emit({ sync: true, pixels: batch.pixels.map(([i]) => worldPixel(region, i)) });
        this.#flush(region);
        return;
      } catch (error) {
        if (this.#closed) return;
        this.#failed(error);
        if (!RETRYABLE.has((error as { code?: string }).code ?? '')) {
          // The region refused the batch (a bug, not the network): show the region as it really is.
          region.inflight = undefined;
          for (const [i, [, id]] of region.overlay) if (id === batch.id) region.overlay.delete(i);
          this.#emit({ sync: true, pixels: batch.pixels.map(([i]) => worldPixel(region, i)) });
          this.#flush(region);
          return;
        }
        // Same key, same payload: if the first attempt did go through, the owner answers from its dedupe table.
        await sleep(Math.min(250 * 2 ** Math.min(batch.attempts - 1, 4), 4000));
      }
    }
  }

  #succeeded(): void {
    if (this.#failures === 0) return;
    this.#failures = 0;
    this.#lastError = undefined;
    this.#emit({ sync: true });
  }

  #failed(error: unknown): void {
    this.#failures++;
    const e = error as { code?: string; message?: string };
    this.#lastError = e.code ?? e.message ?? String(error);
    this.#emit({ sync: true });
  }

  // ------------------------------------------------------------------ cursors and ownership

  #sendCursor(): void {
    const c = this.#cursorPending;
    if (c === undefined || this.#closed) return;
    this.#cursorPending = undefined;
    this.#cursorSentAt = performance.now();
    const region = this.#regionAt(Math.floor(c.x), Math.floor(c.y));
    if (region === undefined) return;
    if (this.#cursorRegion !== undefined && this.#cursorRegion !== region.id) {
      // Leaving a region: its watchers drop the cursor only if no newer position arrives from the next one.
    }
    this.#cursorRegion = region.id;
    const arg: CursorArg = { player: this.#player, x: c.x - region.rx * REGION_SIZE, y: c.y - region.ry * REGION_SIZE, tool: c.tool };
    this.#cast(region.id, 'presence', 'move', arg);
  }

  #cast(regionId: string, type: string, op: string, arg: unknown): void {
    try {
      this.#mesh.cast({ capability: 'world', type, id: regionId, payload: { op, arg } });
    } catch {
      // No peer serves `world` right now: cursors are best effort.
    }
  }

  #onPresence(e: PresenceEvent): void {
    if (e === null || typeof e !== 'object') return;
    if (e.t === 'gone') {
      if (this.#cursors.delete(e.playerId)) this.#emit({ cursors: true });
      return;
    }
    if (e.t !== 'cursor' || e.player.id === this.#player.id) return;
    const coords = regionCoords(e.region);
    if (coords === undefined) return;
    const x = coords.rx * REGION_SIZE + e.x;
    const y = coords.ry * REGION_SIZE + e.y;
    const c = this.#cursors.get(e.player.id);
    if (c === undefined) this.#cursors.set(e.player.id, { player: e.player, x, y, tool: e.tool, seenAt: performance.now() });
    else Object.assign(c, { player: e.player, x, y, tool: e.tool, seenAt: performance.now() });
    this.#emit({ cursors: true });
  }

  #sweepCursors(): void {
    const now = performance.now();
    let changed = false;
    for (const [id, c] of this.#cursors) {
      if (now - c.seenAt > CURSOR_STALE_MS) {
        this.#cursors.delete(id);
        changed = true;
      }
    }
    if (changed) this.#emit({ cursors: true });
  }

  #updateOwners(initial = false): void {
    const now = performance.now();
    for (const r of this.#regions.values()) {
      const [owner, standby] = this.#mesh.preferenceList('world', r.id, 2);
      if (!initial && owner !== r.owner) r.movedAt = now;
      r.owner = owner;
      r.standby = standby;
    }
    this.#emit({ owners: true });
  }

  #emit(change: WorldChange): void {
    for (const l of this.#listeners) l(change);
  }
}

function worldPixel(region: Region, i: number): [number, number] {
  return [region.rx * REGION_SIZE + (i % REGION_SIZE), region.ry * REGION_SIZE + Math.floor(i / REGION_SIZE)];
}

function regionPixels(region: Region): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < REGION_SIZE * REGION_SIZE; i++) out.push(worldPixel(region, i));
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The CSS colour of palette index `c`. */
export function paletteColor(c: number): string {
  return PALETTE[c] ?? PALETTE[0];
}
