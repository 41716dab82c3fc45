/**
 * The live mesh dashboard, framework-free: `mountDashboard(element, mesh)` draws the room as seen from `mesh` and
 * keeps it current until `destroy()`.
 *
 * - Peers: kind, capabilities, this peer's link to each (WebRTC state), round-trip time, actors, calls.
 * - The shards of a capability as a square grid coloured by owner; cells flash when their owner changes.
 * - Actors: counts per peer and type, and a feed of spawns, passivations and moves.
 * - Message flow: calls per second on every link, and call latency (p50 / p99), room-wide.
 *
 * Sources: the capability table (membership), this peer's actor events, and the stats every peer of the room
 * shares (`mesh.watchRoom`). Drawing happens on animation frames through an injected {@link FrameScheduler};
 * the module sets no timers.
 */
import type { Mesh } from '../actors/mesh.js';
import type { ActorAddress, DeactivationReason } from '../monitoring/events.js';
import { NO_OWNER_COLOR, assignPeerColors, shortId } from './colors.js';
import { ActivityFeed, formatAddress, type ActivityEntry, type ActorActivity } from './feed.js';
import { circleLayout, linkCurve, particlePhases, placedLinks, pointOn, strokeFor, type NodePlace } from './flow.js';
import {
  SampleHistory,
  formatMs,
  formatRate,
  incomingRate,
  mergeReport,
  outgoingRate,
  pairRates,
  pruneReports,
  roomLinks,
  roomTotals,
  rttTo,
  type RoomReport,
} from './room.js';
import { changedShards, gridSide, ownerCounts, shardOwners, shardRepresentatives } from './shards.js';
import { DASHBOARD_CSS } from './styles.js';

/** Runs callbacks on animation frames (default: `requestAnimationFrame`). */
export interface FrameScheduler {
  /** Runs `callback` once on the next frame; returns a function that cancels it. */
  request(callback: (time: number) => void): () => void;
}

/** The scheduler of a browser page. */
export function animationFrames(): FrameScheduler {
  return {
    request(callback) {
      const handle = globalThis.requestAnimationFrame(callback);
      return () => globalThis.cancelAnimationFrame(handle);
    },
  };
}

/** Options of {@link mountDashboard}. */
export interface DashboardOptions {
  /** Heading (default "meshrtc room"). */
  readonly title?: string;
  /** How often peers report their stats (default 1000 ms). */
  readonly intervalMs?: number;
  /** Capabilities whose shard maps can be shown (default: every capability of the room, as it changes). */
  readonly capabilities?: readonly string[];
  /** Shards per capability (default 4096; must match the mesh). */
  readonly shardCount?: number;
  /** Lines of the activity feed (default 200). */
  readonly maxFeed?: number;
  /** Frames (default `requestAnimationFrame`). */
  readonly scheduler?: FrameScheduler;
  /** Milliseconds, monotonic (default `performance.now`). */
  readonly now?: () => number;
}

/** A mounted dashboard. */
export interface DashboardHandle {
  /** Stops listening and removes the dashboard's elements. Idempotent. */
  destroy(): void;
}

/** What the dashboard reads from a mesh. */
export type DashboardMesh = Pick<Mesh, 'peerId' | 'table' | 'ownerOf' | 'shardOf' | 'on' | 'activeActors' | 'transport' | 'watchRoom'>;

/** A report as `watchRoom` delivers it (the fields the dashboard reads, plus recent actor events). */
type IncomingReport = RoomReport & { readonly recentActorEvents?: readonly unknown[] };

const TYPE_COLORS = ['#4cc9f0', '#f72585', '#b5e48c', '#ffb703', '#9d4edd', '#fb8500', '#2ec4b6'];
const FLASH_MS = 1400;
const STYLE_ID = 'meshrtc-dashboard-style';

/** Mounts the dashboard into `element` (its children are replaced). */
export function mountDashboard(element: HTMLElement, mesh: DashboardMesh, options: DashboardOptions = {}): DashboardHandle {
  const doc = element.ownerDocument;
  const scheduler = options.scheduler ?? animationFrames();
  const now = options.now ?? (() => performance.now());
  const intervalMs = options.intervalMs ?? 1000;
  const shardCount = options.shardCount ?? 4096;
  const self = mesh.peerId;

  if (doc.getElementById(STYLE_ID) === null) {
    const style = doc.createElement('style');
    style.id = STYLE_ID;
    style.textContent = DASHBOARD_CSS;
    doc.head.append(style);
  }

  // ------------------------------------------------------------------ state
  const reports = new Map<string, IncomingReport>();
  const receivedAt = new Map<string, number>();
  const feed = new ActivityFeed({ maxEntries: options.maxFeed ?? 200 });
  const rateHistory = new SampleHistory(60);
  let lastSample = -Infinity;
  let colors = new Map<string, string>();
  let representatives: string[] | undefined;
  let capability: string | undefined = options.capabilities?.[0];
  /** Whether the capability shown was picked (by a click or the options) rather than chosen automatically. */
  let chosen = capability !== undefined;
  let owners: Array<string | undefined> = [];
  const flashAt = new Float64Array(shardCount).fill(-Infinity);
  let lastMove: { count: number; view: number } | undefined;
  let destroyed = false;
  /** Owners of every shard per capability in the current view, and in the view before (with when it changed). */
  const ownersByCap = new Map<string, Array<string | undefined>>();
  const previousByCap = new Map<string, { at: number; owners: Array<string | undefined> }>();

  // ------------------------------------------------------------------ elements
  const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, ...children: Array<Node | string>): HTMLElementTagNameMap[K] => {
    const e = doc.createElement(tag);
    if (cls !== undefined) e.className = cls;
    e.append(...children);
    return e;
  };
  const card = (title: string, sub: string, ...children: Node[]): { card: HTMLElement; heading: HTMLElement } => {
    const heading = el('h3', undefined, title);
    if (sub !== '') heading.append(el('span', 'mrd-sub mrd-muted', sub));
    return { card: el('section', 'mrd-card', heading, ...children), heading };
  };
  const peerLabel = (peerId: string, withYou = true): HTMLElement => {
    const span = el('span', 'mrd-peer');
    const sw = el('span', 'mrd-swatch');
    sw.style.background = colors.get(peerId) ?? NO_OWNER_COLOR;
    span.append(sw, shortId(peerId));
    span.title = peerId;
    if (withYou && peerId === self) span.append(el('span', 'mrd-you', 'you'));
    return span;
  };

  const root = el('div', 'mrd');
  root.dataset['testid'] = 'dashboard';

  // Header: title and tiles.
  const live = el('span', 'mrd-live', 'live');
  const tileValues = new Map<string, HTMLElement>();
  const tiles = el('div', 'mrd-tiles');
  const sparkCanvas = doc.createElement('canvas');
  for (const [key, label] of [
    ['peers', 'Peers'],
    ['view', 'View'],
    ['actors', 'Actors'],
    ['calls', 'Calls / s'],
    ['p50', 'Latency p50'],
    ['p99', 'Latency p99'],
  ] as const) {
    const value = el('div', 'mrd-tile-value', '–');
    value.dataset['testid'] = `tile-${key}`;
    tileValues.set(key, value);
    const tile = el('div', 'mrd-tile', el('div', 'mrd-tile-label', label), value);
    if (key === 'calls') tile.append(sparkCanvas);
    tiles.append(tile);
  }
  const header = el('section', 'mrd-card mrd-span mrd-head', el('div', 'mrd-title', options.title ?? 'meshrtc room', live), tiles);

  // Peers.
  const peersBody = el('tbody');
  const peersTable = el('table', 'mrd-table');
  const headRow = el('tr');
  for (const [label, num] of [
    ['Peer', false],
    ['Kind', false],
    ['Capabilities', false],
    ['Link', false],
    ['RTT', true],
    ['Actors', true],
    ['Calls out', true],
    ['Calls in', true],
    ['Served', true],
    ['p50 / p99', true],
  ] as const) {
    const th = el('th', num ? 'mrd-num' : undefined, label);
    headRow.append(th);
  }
  peersTable.append(el('thead', undefined, headRow), peersBody);
  peersBody.dataset['testid'] = 'peers';
  const peersCard = card('Peers', '', peersTable);
  peersCard.card.classList.add('mrd-span');

  // Shards.
  const side = gridSide(shardCount);
  const cell = 6;
  const shardCanvas = doc.createElement('canvas');
  shardCanvas.dataset['testid'] = 'shard-grid';
  shardCanvas.width = side * cell;
  shardCanvas.height = side * cell;
  shardCanvas.style.width = `${side * cell}px`;
  shardCanvas.style.height = `${side * cell}px`;
  const shardCtx = shardCanvas.getContext('2d');
  const capSwitch = el('div', 'mrd-seg');
  const legend = el('div', 'mrd-legend');
  legend.dataset['testid'] = 'shard-legend';
  const shardNote = el('div', 'mrd-note');
  const shardsCard = card(`Shards`, `${shardCount} shards, ${side}×${side}, coloured by owner`, el('div', 'mrd-shards', shardCanvas, el('div', undefined, legend, shardNote)));
  shardsCard.heading.append(capSwitch);
  capSwitch.style.marginLeft = 'auto';

  // Message flow.
  const flowCanvas = doc.createElement('canvas');
  flowCanvas.dataset['testid'] = 'flow';
  const flowNote = el('div', 'mrd-note');
  const flowCard = card('Message flow', 'calls / s per link', flowCanvas, flowNote);
  flowCard.card.classList.add('mrd-flow');

  // Actors: counts and feed.
  const countsBox = el('div', 'mrd-counts');
  const typesBox = el('div', 'mrd-types');
  const actorsCard = card('Actors per peer', 'active now, by type', typesBox, countsBox);
  const feedList = el('ul', 'mrd-feed');
  feedList.dataset['testid'] = 'feed';
  const feedCounts = el('span', 'mrd-sub mrd-muted');
  const feedCard = card('Actor activity', '', feedList);
  feedCard.heading.append(feedCounts);

  root.append(header, peersCard.card, shardsCard.card, flowCard.card, actorsCard.card, feedCard.card);
  element.replaceChildren(root);

  // ------------------------------------------------------------------ data

  const livePeers = (): Set<string> => new Set(mesh.table.peers.map((p) => p.id));

  const capabilities = (): string[] => {
    if (options.capabilities !== undefined) return [...options.capabilities];
    return [...new Set(mesh.table.peers.flatMap((p) => p.capabilities))].sort();
  };

  const recomputeShards = (initial: boolean): void => {
    const caps = capabilities();
    if (capability === undefined || !caps.includes(capability) || !chosen) {
      // Until someone picks one, show the capability most peers serve: the most interesting map.
      const served = (c: string): number => mesh.table.peersFor(c).length;
      const best = [...caps].sort((a, b) => served(b) - served(a) || (a < b ? -1 : 1))[0];
      if (best !== capability) {
        capability = best;
        initial = true;
      }
    }
    if (capability === undefined) {
      owners = [];
      return;
    }
    representatives ??= shardRepresentatives((id) => mesh.shardOf(id), shardCount);
    const cap = capability;
    const next = ownersByCap.get(cap) ?? shardOwners(representatives, (id) => mesh.ownerOf(cap, id));
    if (!initial) {
      const changed = changedShards(owners, next);
      const t = now();
      for (const s of changed) flashAt[s] = t;
      if (changed.length > 0) lastMove = { count: changed.length, view: mesh.table.version };
    } else {
      flashAt.fill(-Infinity);
      lastMove = undefined;
    }
    owners = next;
  };

  const linkStates = (): Map<string, string> => {
    const out = new Map<string, string>();
    const stats = (mesh.transport as { stats?: () => { peers?: Array<{ peerId: string; state: string }> } } | undefined)?.stats?.();
    for (const p of stats?.peers ?? []) out.set(p.peerId, p.state);
    return out;
  };

  const trackOwners = (): void => {
    representatives ??= shardRepresentatives((id) => mesh.shardOf(id), shardCount);
    const reps = representatives;
    const t = now();
    for (const cap of capabilities()) {
      const next = shardOwners(reps, (id) => mesh.ownerOf(cap, id));
      const prev = ownersByCap.get(cap);
      if (prev !== undefined && changedShards(prev, next).length > 0) previousByCap.set(cap, { at: t, owners: prev });
      ownersByCap.set(cap, next);
    }
  };

  const addActivity = (activity: ActorActivity, key: string): void => {
    if (activity.what === 'activated' && activity.from === undefined) {
      // Activated right after a view change on a peer that did not own its shard before, whose previous owner
      // has left the room: it moved here, and the old owner will never report its half. (A live old owner
      // reports its own half, and the feed matches the two.)
      const prev = previousByCap.get(activity.address.capability);
      const before = prev !== undefined && now() - prev.at < 10_000 ? prev.owners[mesh.shardOf(activity.address.id)] : undefined;
      if (before !== undefined && before !== activity.peerId && mesh.table.peer(before) === undefined) activity = { ...activity, from: before };
    }
    if (feed.add(activity, now(), key) !== undefined) invalidate('feed');
  };

  const onReport = (report: IncomingReport): void => {
    if (destroyed || report === null || typeof report !== 'object' || typeof report.peerId !== 'string') return;
    if (!mergeReport(reports, report, livePeers())) return;
    receivedAt.set(report.peerId, now());
    if (report.peerId !== self) {
      for (const raw of report.recentActorEvents ?? []) {
        const a = activityOf(raw, report.peerId);
        if (a !== undefined) addActivity(a.activity, a.key);
      }
    }
    const t = now();
    if (report.peerId === self || t - lastSample >= intervalMs) {
      lastSample = t;
      rateHistory.push(roomTotals(reports.values()).callsPerSecond);
    }
    invalidate('stats');
  };

  // ------------------------------------------------------------------ rendering

  const dirty = new Set<string>(['all']);
  let shardsFlashing = false;
  let cancelFrame: (() => void) | undefined;
  const invalidate = (what: string): void => {
    dirty.add(what);
    if (cancelFrame === undefined && !destroyed) cancelFrame = scheduler.request(frame);
  };

  function frame(): void {
    cancelFrame = undefined;
    if (destroyed) return;
    const all = dirty.has('all');
    const t = now();
    if (all || dirty.has('view')) {
      // Peers that left keep their colour, so the feed still tells them apart.
      const next = assignPeerColors(mesh.table.peers.map((p) => p.id));
      for (const [id, c] of colors) if (!next.has(id)) next.set(id, c);
      colors = next;
      renderCapSwitch();
      renderLegend();
    }
    if (all || dirty.has('view') || dirty.has('stats')) {
      renderTiles(t);
      renderPeers(t);
      renderCounts();
    }
    if (all || dirty.has('feed') || dirty.has('stats')) renderFeed(t);
    // The grid only changes with the view (or while cells flash); the flow moves on every frame.
    if (all || dirty.has('view') || shardsFlashing) shardsFlashing = renderShards(t);
    const flashing = shardsFlashing;
    dirty.clear();
    const flowing = renderFlow(t);
    // Keep animating while shards flash or calls flow.
    if (flashing || flowing) invalidate('anim');
  }

  function renderTiles(t: number): void {
    const totals = roomTotals(reports.values());
    const set = (k: string, v: string): void => void (tileValues.get(k)!.textContent = v);
    set('peers', String(mesh.table.peers.length));
    set('view', `…${String(mesh.table.version).slice(-5)}`);
    tileValues.get('view')!.title = String(mesh.table.version);
    set('actors', String(reports.size > 0 ? totals.actors : mesh.activeActors().length));
    set('calls', formatRate(totals.callsPerSecond).replace('/s', ''));
    set('p50', formatMs(totals.p50));
    set('p99', formatMs(totals.p99));
    const fresh = receivedAt.get(self) ?? Math.max(-Infinity, ...receivedAt.values());
    live.classList.toggle('mrd-stale', !(t - fresh < intervalMs * 3));
    live.textContent = t - fresh < intervalMs * 3 ? 'live' : 'waiting for stats';
    drawSparkline(sparkCanvas, rateHistory.values);
  }

  function renderPeers(t: number): void {
    const states = linkStates();
    const rows = [...mesh.table.peers].sort((a, b) => (a.id === self ? -1 : b.id === self ? 1 : a.id < b.id ? -1 : 1));
    peersBody.replaceChildren(
      ...rows.map((p) => {
        const r = reports.get(p.id);
        const stale = r === undefined || !(t - (receivedAt.get(p.id) ?? -Infinity) < intervalMs * 3);
        const tr = el('tr');
        tr.dataset['peer'] = p.id;
        const caps = el('td');
        if (p.capabilities.length === 0) caps.append(el('span', 'mrd-muted', 'client only'));
        for (const c of p.capabilities) caps.append(el('span', 'mrd-cap', c));
        const state = p.id === self ? 'self' : (states.get(p.id) ?? 'none');
        const stateLabel = { self: 'this peer', open: 'connected', connecting: 'connecting', requesting: 'connecting', backoff: 'retrying', idle: 'idle', none: 'no link yet' }[state] ?? state;
        const num = (v: string, title?: string): HTMLElement => {
          const td = el('td', 'mrd-num', v);
          if (title !== undefined) td.title = title;
          return td;
        };
        const rtt = p.id === self ? null : rttTo(reports, p.id, self);
        tr.append(
          el('td', undefined, peerLabel(p.id)),
          el('td', undefined, el('span', `mrd-kind mrd-kind-${p.kind}`, p.kind)),
          caps,
          el('td', undefined, el('span', `mrd-state mrd-state-${state}`, stateLabel)),
          num(p.id === self ? '–' : formatMs(rtt)),
          num(r === undefined ? '–' : String(r.actorsActive)),
          num(r === undefined ? '–' : formatRate(outgoingRate(r))),
          num(r === undefined ? '–' : formatRate(incomingRate(reports.values(), p.id))),
          num(r === undefined ? '–' : String(r.callsServed)),
          num(r === undefined || outgoingRate(r) <= 0 ? '–' : `${formatMs(r.latencyMs.p50)} / ${formatMs(r.latencyMs.p99)}`),
        );
        if (stale) tr.style.opacity = '0.6';
        return tr;
      }),
    );
  }

  function renderCapSwitch(): void {
    const caps = capabilities();
    capSwitch.replaceChildren(
      ...caps.map((c) => {
        const b = el('button', c === capability ? 'mrd-on' : undefined, c);
        b.type = 'button';
        b.addEventListener('click', () => {
          capability = c;
          chosen = true;
          recomputeShards(true);
          invalidate('view');
        });
        return b;
      }),
    );
    capSwitch.hidden = caps.length < 2;
  }

  function renderLegend(): void {
    const counts = ownerCounts(owners);
    if (counts.length === 0) {
      legend.replaceChildren(el('div', 'mrd-empty', capability === undefined ? 'No capabilities in this room yet.' : `No live peer serves ${capability}.`));
    } else {
      legend.replaceChildren(
        ...counts.map(({ peerId, shards }) => {
          const row = el('div', 'mrd-legend-row');
          row.dataset['peer'] = peerId;
          row.dataset['shards'] = String(shards);
          const bar = el('div', 'mrd-legend-bar');
          const fill = el('span');
          fill.style.width = `${(100 * shards) / shardCount}%`;
          fill.style.background = colors.get(peerId) ?? NO_OWNER_COLOR;
          bar.append(fill);
          const kind = mesh.table.peer(peerId)?.kind;
          row.append(
            el('span', undefined, peerLabel(peerId), ' ', el('span', 'mrd-muted', kind ?? '')),
            el('span', undefined, `${shards}`, el('span', 'mrd-muted', ` · ${((100 * shards) / shardCount).toFixed(1)}%`)),
            bar,
          );
          return row;
        }),
      );
    }
    shardNote.textContent =
      lastMove === undefined
        ? `Capability ${capability ?? '–'}: an actor's id hashes to a shard; the shard's owner runs it.`
        : `${lastMove.count} shards changed owner in the last view change.`;
  }

  function renderShards(t: number): boolean {
    if (shardCtx === null) return false;
    let flashing = false;
    shardCtx.fillStyle = '#0d111a';
    shardCtx.fillRect(0, 0, shardCanvas.width, shardCanvas.height);
    for (let s = 0; s < shardCount; s++) {
      const x = (s % side) * cell;
      const y = Math.floor(s / side) * cell;
      const owner = owners[s];
      shardCtx.fillStyle = owner === undefined ? NO_OWNER_COLOR : (colors.get(owner) ?? NO_OWNER_COLOR);
      shardCtx.fillRect(x, y, cell - 1, cell - 1);
      const age = t - flashAt[s]!;
      if (age < FLASH_MS) {
        flashing = true;
        shardCtx.fillStyle = `rgba(255,255,255,${(0.85 * (1 - age / FLASH_MS)).toFixed(3)})`;
        shardCtx.fillRect(x, y, cell - 1, cell - 1);
      }
    }
    return flashing;
  }

  function renderFlow(t: number): boolean {
    const ctx = flowCanvas.getContext('2d');
    if (ctx === null) return false;
    const width = flowCanvas.clientWidth || 480;
    const height = flowCanvas.clientHeight || 300;
    const dpr = (doc.defaultView?.devicePixelRatio ?? 1) || 1;
    if (flowCanvas.width !== Math.round(width * dpr) || flowCanvas.height !== Math.round(height * dpr)) {
      flowCanvas.width = Math.round(width * dpr);
      flowCanvas.height = Math.round(height * dpr);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const peers = mesh.table.peers.map((p) => p.id);
    const nodeR = 20;
    const places = new Map<string, NodePlace>(circleLayout(peers, width, height - 28, nodeR + 12).map((p) => [p.peerId, { ...p, y: p.y + 2 }]));
    const links = placedLinks(roomLinks(reports.values()), places);
    let flowing = false;
    for (const l of links) {
      const curve = linkCurve(l.a, l.b, 26, nodeR + 4);
      const color = colors.get(l.from) ?? '#8899aa';
      ctx.strokeStyle = hexAlpha(color, 0.35);
      ctx.lineWidth = strokeFor(l.rate);
      ctx.beginPath();
      ctx.moveTo(curve.x0, curve.y0);
      ctx.quadraticCurveTo(curve.cx, curve.cy, curve.x1, curve.y1);
      ctx.stroke();
      // Arrow head.
      const end = pointOn(curve, 1);
      const before = pointOn(curve, 0.93);
      const ang = Math.atan2(end.y - before.y, end.x - before.x);
      ctx.fillStyle = hexAlpha(color, 0.8);
      ctx.beginPath();
      ctx.moveTo(end.x, end.y);
      ctx.lineTo(end.x - 8 * Math.cos(ang - 0.45), end.y - 8 * Math.sin(ang - 0.45));
      ctx.lineTo(end.x - 8 * Math.cos(ang + 0.45), end.y - 8 * Math.sin(ang + 0.45));
      ctx.closePath();
      ctx.fill();
      for (const phase of particlePhases(l.rate, t)) {
        flowing = true;
        const p = pointOn(curve, phase);
        ctx.fillStyle = color;
        ctx.beginPath();
        ctx.arc(p.x, p.y, 2.6, 0, Math.PI * 2);
        ctx.fill();
      }
      const mid = pointOn(curve, 0.5);
      ctx.font = '600 11px system-ui, sans-serif';
      const label = formatRate(l.rate);
      const tw = ctx.measureText(label).width;
      ctx.fillStyle = 'rgba(11,14,20,0.85)';
      ctx.beginPath();
      ctx.roundRect(mid.x - tw / 2 - 5, mid.y - 8, tw + 10, 16, 8);
      ctx.fill();
      ctx.fillStyle = '#e6e9f0';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(label, mid.x, mid.y);
      ctx.textAlign = 'start';
      ctx.textBaseline = 'alphabetic';
    }
    for (const place of places.values()) {
      const peer = mesh.table.peer(place.peerId);
      const color = colors.get(place.peerId) ?? '#8899aa';
      ctx.fillStyle = '#131824';
      ctx.strokeStyle = color;
      ctx.lineWidth = place.peerId === self ? 4 : 2.5;
      ctx.beginPath();
      ctx.arc(place.x, place.y, nodeR, 0, Math.PI * 2);
      ctx.fill();
      ctx.stroke();
      ctx.fillStyle = color;
      ctx.font = '700 10px system-ui, sans-serif';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(peer?.kind === 'edge' ? 'EDGE' : 'TAB', place.x, place.y);
      const label = `${shortId(place.peerId)}${place.peerId === self ? ' (you)' : ''}`;
      const r = reports.get(place.peerId);
      const sub = r === undefined ? '' : `${r.actorsActive} actors`;
      ctx.font = '600 11px ui-monospace, SFMono-Regular, Menlo, monospace';
      const lw = ctx.measureText(label).width;
      ctx.font = '11px system-ui, sans-serif';
      const sw = ctx.measureText(sub).width;
      // A backdrop, so links passing under a label do not cross its text.
      ctx.fillStyle = 'rgba(19,24,36,0.92)';
      ctx.beginPath();
      ctx.roundRect(place.x - Math.max(lw, sw) / 2 - 5, place.y + nodeR + 4, Math.max(lw, sw) + 10, sub === '' ? 16 : 29, 5);
      ctx.fill();
      ctx.fillStyle = '#e6e9f0';
      ctx.font = '600 11px ui-monospace, SFMono-Regular, Menlo, monospace';
      ctx.fillText(label, place.x, place.y + nodeR + 12);
      if (sub !== '') {
        ctx.fillStyle = '#8a94a8';
        ctx.font = '11px system-ui, sans-serif';
        ctx.fillText(sub, place.x, place.y + nodeR + 25);
      }
      ctx.textAlign = 'start';
      ctx.textBaseline = 'alphabetic';
    }
    const pairs = pairRates(roomLinks(reports.values()));
    flowNote.textContent =
      links.length === 0
        ? 'No calls between peers right now. Paint something!'
        : `${links.length} busy link${links.length === 1 ? '' : 's'} between ${pairs.size} pair${pairs.size === 1 ? '' : 's'}; each dot stands for calls in flight, arrows point from caller to owner.`;
    return flowing;
  }

  function renderCounts(): void {
    const types = new Set<string>();
    for (const r of reports.values()) for (const type of Object.keys(r.actorsByType)) types.add(type);
    const typeList = [...types].sort();
    const typeColor = (type: string): string => TYPE_COLORS[typeList.indexOf(type) % TYPE_COLORS.length]!;
    typesBox.replaceChildren(
      ...typeList.map((type) => {
        const i = el('i');
        i.style.background = typeColor(type);
        return el('span', undefined, i, type);
      }),
    );
    const rows = [...reports.values()].sort((a, b) => b.actorsActive - a.actorsActive || (a.peerId < b.peerId ? -1 : 1));
    const max = Math.max(1, ...rows.map((r) => r.actorsActive));
    if (rows.length === 0) {
      countsBox.replaceChildren(el('div', 'mrd-empty', 'Waiting for the peers’ stats…'));
      return;
    }
    countsBox.replaceChildren(
      ...rows.map((r) => {
        const stack = el('div', 'mrd-stack');
        for (const type of typeList) {
          const n = r.actorsByType[type] ?? 0;
          if (n === 0) continue;
          const seg = el('span');
          seg.style.width = `${(100 * n) / max}%`;
          seg.style.background = typeColor(type);
          seg.title = `${n} ${type}`;
          stack.append(seg);
        }
        const row = el('div', 'mrd-count-row', peerLabel(r.peerId), stack, el('span', 'mrd-num', String(r.actorsActive)));
        row.dataset['peer'] = r.peerId;
        return row;
      }),
    );
  }

  function renderFeed(t: number): void {
    const c = feed.counts();
    feedCounts.textContent = `${c.spawned} spawned · ${c.moved} moved · ${c.passivated} passivated${c.failed > 0 ? ` · ${c.failed} failed` : ''}`;
    feedCounts.style.marginLeft = 'auto';
    const entries = feed.entries.slice(0, 60);
    if (entries.length === 0) {
      feedList.replaceChildren(el('li', 'mrd-empty', 'No actor activity yet.'));
      return;
    }
    feedList.replaceChildren(...entries.map((e) => feedLine(e, t)));
  }

  function feedLine(e: ActivityEntry, t: number): HTMLElement {
    const li = el('li', t - e.at < 800 ? 'mrd-fresh' : undefined);
    li.dataset['kind'] = e.kind;
    li.dataset['peer'] = e.peerId;
    if (e.from !== undefined) li.dataset['from'] = e.from;
    const where = el('span', 'mrd-addr', `${formatAddress(e.address)} `);
    where.title = formatAddress(e.address);
    if (e.kind === 'moved' && e.from !== undefined) where.append(peerLabel(e.from, false), ' → ', peerLabel(e.peerId, false));
    else where.append(e.kind === 'spawned' ? 'on ' : e.kind === 'failed' ? 'on ' : 'left ', peerLabel(e.peerId, false));
    if (e.reason !== undefined && e.kind !== 'passivated') where.append(el('span', 'mrd-muted', ` (${e.reason})`));
    li.append(el('span', 'mrd-ago', ago(t - e.at)), el('span', `mrd-badge mrd-badge-${e.kind}`, e.kind), where);
    return li;
  }

  // ------------------------------------------------------------------ wiring

  const unsubscribes: Array<() => void> = [];
  unsubscribes.push(
    mesh.table.onChange((change) => {
      if (change.type !== 'view') return;
      pruneReports(reports, livePeers());
      trackOwners();
      recomputeShards(false);
      invalidate('view');
    }),
  );
  unsubscribes.push(mesh.on('actor:activated', (e) => addActivity({ what: 'activated', peerId: e.peerId, address: e.address }, localKey())));
  unsubscribes.push(mesh.on('actor:deactivated', (e) => addActivity({ what: 'deactivated', peerId: e.peerId, address: e.address, reason: e.reason }, localKey())));
  unsubscribes.push(mesh.on('actor:activation-failed', (e) => addActivity({ what: 'activation-failed', peerId: e.peerId, address: e.address }, localKey())));
  let localSeq = 0;
  function localKey(): string {
    return `local:${++localSeq}`;
  }

  unsubscribes.push(mesh.watchRoom(onReport, { intervalMs }));

  trackOwners();
  recomputeShards(true);
  invalidate('all');

  return {
    destroy() {
      if (destroyed) return;
      destroyed = true;
      cancelFrame?.();
      for (const u of unsubscribes.splice(0)) u();
      root.remove();
    },
  };
}

/** Reads one actor event of a stats report (tolerant of its exact shape); undefined for anything else. */
function activityOf(raw: unknown, peerId: string): { activity: ActorActivity; key: string } | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const e = raw as { type?: unknown; kind?: unknown; at?: unknown; seq?: unknown; address?: unknown; reason?: unknown; peerId?: unknown };
  const type = String(e.type ?? e.kind ?? '');
  const address = e.address as ActorAddress | undefined;
  if (address === undefined || typeof address !== 'object' || typeof address.id !== 'string') return undefined;
  const who = typeof e.peerId === 'string' ? e.peerId : peerId;
  const key = `${who}:${String(e.seq ?? e.at)}:${type}:${address.capability}/${address.type}/${address.id}`;
  switch (type.replace(/^actor:/, '')) {
    case 'activated':
      return { activity: { what: 'activated', peerId: who, address }, key };
    case 'deactivated':
      return { activity: { what: 'deactivated', peerId: who, address, reason: (e.reason ?? 'idle') as DeactivationReason }, key };
    case 'moved': // deactivated because its shard moved to another peer
      return { activity: { what: 'deactivated', peerId: who, address, reason: 'not-owner' }, key };
    case 'activation-failed':
      return { activity: { what: 'activation-failed', peerId: who, address }, key };
    default:
      return undefined;
  }
}

function ago(ms: number): string {
  if (ms < 1000) return 'now';
  if (ms < 60_000) return `${Math.floor(ms / 1000)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m`;
  return `${Math.floor(ms / 3_600_000)}h`;
}

function hexAlpha(hex: string, alpha: number): string {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

function drawSparkline(canvas: HTMLCanvasElement, values: readonly number[]): void {
  const ctx = canvas.getContext('2d');
  if (ctx === null) return;
  const width = canvas.clientWidth || 120;
  const height = canvas.clientHeight || 30;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  ctx.clearRect(0, 0, width, height);
  if (values.length < 2) return;
  const max = Math.max(1, ...values);
  const step = width / (values.length - 1);
  ctx.beginPath();
  values.forEach((v, i) => {
    const x = i * step;
    const y = height - 2 - (v / max) * (height - 6);
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  ctx.strokeStyle = 'rgba(76,201,240,0.9)';
  ctx.lineWidth = 1.5;
  ctx.stroke();
  ctx.lineTo(width, height);
  ctx.lineTo(0, height);
  ctx.closePath();
  ctx.fillStyle = 'rgba(76,201,240,0.12)';
  ctx.fill();
}
