/**
 * The actors of the Pixel Mesh demo, shared by the browser page and the Node edge peer (`demo/start.ts`).
 *
 * - `region` (capability `world`, durable): one square of the shared pixel world. Every paint is committed and
 *   mirrored to the region's standby before it is acknowledged, and published to every subscribed player.
 * - `presence` (capability `world`, in memory): the live cursors over one region. Same id as its region, so the
 *   same peer serves both; nothing is stored, cursors are ephemeral.
 * - `lobby` (capability `chat`, durable): the chat room, the last {@link CHAT_HISTORY} messages.
 *
 * Pure data and handlers only: no DOM, no Node APIs.
 */
import { defineActor } from 'meshrtc';

/** Regions per side of the world. */
export const REGIONS_X = 8;
export const REGIONS_Y = 6;
/** Pixels per side of one region. */
export const REGION_SIZE = 16;
export const WORLD_W = REGIONS_X * REGION_SIZE;
export const WORLD_H = REGIONS_Y * REGION_SIZE;
/** Messages the lobby keeps. */
export const CHAT_HISTORY = 100;
/** Most pixels in one paint call. */
export const MAX_PIXELS_PER_PAINT = REGION_SIZE * REGION_SIZE;

/**
 * The palette: index 0 is the empty background, 1..15 are paint colours. (A dark-friendly 16-colour palette in
 * the spirit of PICO-8 and Sweetie 16.)
 */
export const PALETTE = [
  '#141821', // 0: empty
  '#f4f4f4',
  '#ffcd75',
  '#ffa24c',
  '#ef7d57',
  '#e4415f',
  '#b13e53',
  '#a7f070',
  '#38b764',
  '#257179',
  '#41a6f6',
  '#3b5dc9',
  '#73eff7',
  '#c77dff',
  '#94b0c2',
  '#566c86',
] as const;

/** A player as shown to others. */
export interface Player {
  readonly id: string;
  readonly name: string;
  /** Palette index of the player's colour (1..15). */
  readonly color: number;
}

/** The state of one region. */
export interface RegionState {
  /** Palette index per pixel, row-major, `REGION_SIZE * REGION_SIZE` entries. */
  px: number[];
  /** Index into `who` of the player who last painted each pixel (-1: nobody). */
  by: number[];
  /** Players who painted here. */
  who: Player[];
  /** Paint operations applied so far (events carry the number that follows it). */
  seq: number;
}

/** One painted pixel inside a region: `[index, colour]`. */
export type PixelWrite = readonly [index: number, color: number];

/** What `region.paint` takes. */
export interface PaintArg {
  readonly player: Player;
  readonly pixels: readonly PixelWrite[];
}

/** What a region publishes to its subscribers. */
export type RegionEvent = { readonly t: 'paint'; readonly seq: number; readonly player: Player; readonly pixels: readonly PixelWrite[] };

/** What `region.snapshot` returns. */
export interface RegionSnapshot {
  readonly px: readonly number[];
  readonly by: readonly number[];
  readonly who: readonly Player[];
  readonly seq: number;
}

/** A cursor: region-local coordinates in pixels (fractions allowed). */
export interface CursorArg {
  readonly player: Player;
  readonly x: number;
  readonly y: number;
  /** The tool the player holds (palette index, 0 = eraser). */
  readonly tool: number;
}

/** What a presence actor publishes. */
export type PresenceEvent =
  | { readonly t: 'cursor'; readonly region: string; readonly player: Player; readonly x: number; readonly y: number; readonly tool: number }
  | { readonly t: 'gone'; readonly region: string; readonly playerId: string };

/** One chat message. */
export interface ChatMessage {
  readonly seq: number;
  /** Wall-clock milliseconds (as seen by the lobby's owner). */
  readonly at: number;
  readonly from: Player | null;
  readonly text: string;
}

/** The lobby's state. */
export interface LobbyState {
  messages: ChatMessage[];
  seq: number;
}

/** What the lobby publishes. */
export type LobbyEvent = { readonly t: 'message'; readonly message: ChatMessage };

/** The id of the region at region coordinates `(rx, ry)`. */
export function regionId(rx: number, ry: number): string {
  return `r${rx}-${ry}`;
}

/** Every region id, row by row. */
export function allRegionIds(): string[] {
  const ids: string[] = [];
  for (let ry = 0; ry < REGIONS_Y; ry++) for (let rx = 0; rx < REGIONS_X; rx++) ids.push(regionId(rx, ry));
  return ids;
}

/** The region coordinates of a region id, or undefined for a malformed id. */
export function regionCoords(id: string): { rx: number; ry: number } | undefined {
  const m = /^r(\d+)-(\d+)$/.exec(id);
  if (m === null) return undefined;
  const rx = Number(m[1]);
  const ry = Number(m[2]);
  return rx < REGIONS_X && ry < REGIONS_Y ? { rx, ry } : undefined;
}

/** Checks a player record from the network; returns a clean copy. */
export function checkPlayer(p: unknown): Player {
  const o = p as Partial<Player> | null;
  if (o === null || typeof o !== 'object' || typeof o.id !== 'string' || typeof o.name !== 'string') throw new TypeError('invalid player');
  const color = Number.isInteger(o.color) && (o.color as number) >= 1 && (o.color as number) < PALETTE.length ? (o.color as number) : 1;
  return { id: o.id.slice(0, 64), name: cleanText(o.name, 24) || 'anonymous', color };
}

/** Trims, collapses control characters and caps the length of user text. */
export function cleanText(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().slice(0, max);
}

/** Applies pixel writes to a region state (the handler and the page share this); returns the writes kept. */
export function applyPaint(state: RegionState, player: Player, pixels: readonly PixelWrite[]): PixelWrite[] {
  let who = state.who.findIndex((p) => p.id === player.id);
  if (who < 0) {
    who = state.who.length;
    state.who.push(player);
  } else if (state.who[who]!.name !== player.name || state.who[who]!.color !== player.color) {
    state.who[who] = player;
  }
  const kept: PixelWrite[] = [];
  for (const w of pixels) {
    if (!Array.isArray(w)) continue;
    const [i, c] = w;
    if (!Number.isInteger(i) || i < 0 || i >= REGION_SIZE * REGION_SIZE) continue;
    if (!Number.isInteger(c) || c < 0 || c >= PALETTE.length) continue;
    state.px[i] = c;
    state.by[i] = c === 0 ? -1 : who;
    kept.push([i, c]);
  }
  return kept;
}

export const Region = defineActor({
  type: 'region',
  initialState: (): RegionState => ({
    px: new Array<number>(REGION_SIZE * REGION_SIZE).fill(0),
    by: new Array<number>(REGION_SIZE * REGION_SIZE).fill(-1),
    who: [],
    seq: 0,
  }),
  handlers: {
    /** Paints pixels; resolves with the sequence number of the paint. */
    paint: (state: RegionState, arg: PaintArg, ctx) => {
      if (arg === null || typeof arg !== 'object' || !Array.isArray(arg.pixels)) throw new TypeError('paint takes { player, pixels }');
      if (arg.pixels.length > MAX_PIXELS_PER_PAINT) throw new RangeError(`at most ${MAX_PIXELS_PER_PAINT} pixels per paint`);
      const player = checkPlayer(arg.player);
      const pixels = applyPaint(state, player, arg.pixels);
      state.seq += 1;
      const event: RegionEvent = { t: 'paint', seq: state.seq, player, pixels };
      ctx.publish(event);
      return state.seq;
    },
    /** The whole region, for a player arriving (subscribe first, then snapshot, then apply events after `seq`). */
    snapshot: (state: RegionState): RegionSnapshot => ({ px: state.px, by: state.by, who: state.who, seq: state.seq }),
  },
});

export const Presence = defineActor({
  type: 'presence',
  durability: 'memory',
  initialState: () => ({}),
  handlers: {
    move: (_state: Record<string, never>, arg: CursorArg, ctx) => {
      const player = checkPlayer(arg?.player);
      const x = Number(arg.x);
      const y = Number(arg.y);
      if (!Number.isFinite(x) || !Number.isFinite(y)) return;
      const tool = Number.isInteger(arg.tool) && arg.tool >= 0 && arg.tool < PALETTE.length ? arg.tool : player.color;
      const event: PresenceEvent = { t: 'cursor', region: ctx.address.id, player, x, y, tool };
      ctx.publish(event);
    },
    gone: (_state: Record<string, never>, playerId: string, ctx) => {
      if (typeof playerId !== 'string') return;
      const event: PresenceEvent = { t: 'gone', region: ctx.address.id, playerId };
      ctx.publish(event);
    },
  },
});

export const Lobby = defineActor({
  type: 'lobby',
  initialState: (): LobbyState => ({ messages: [], seq: 0 }),
  handlers: {
    /** Posts a message (`from: null` for a system line such as "Ann joined"); resolves with its sequence number. */
    post: (state: LobbyState, arg: { from: Player | null; text: string }, ctx) => {
      const text = cleanText(String(arg?.text ?? ''), 280);
      if (text.length === 0) throw new RangeError('empty message');
      const from = arg.from === null ? null : checkPlayer(arg.from);
      state.seq += 1;
      const message: ChatMessage = { seq: state.seq, at: Date.now(), from, text };
      state.messages.push(message);
      if (state.messages.length > CHAT_HISTORY) state.messages.splice(0, state.messages.length - CHAT_HISTORY);
      const event: LobbyEvent = { t: 'message', message };
      ctx.publish(event);
      return state.seq;
    },
    history: (state: LobbyState): { messages: ChatMessage[]; seq: number } => ({ messages: state.messages, seq: state.seq }),
  },
});

/** Every actor type of the demo (the edge peer and the page register the same list). */
export const demoActors = [Region, Presence, Lobby];
