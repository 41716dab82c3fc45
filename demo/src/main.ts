/**
 * Pixel Mesh: the page. Joins the room as a peer serving `world` (so this tab owns some regions), shows the
 * world, the tools, who owns what, the players and the lobby chat; the "Mesh dashboard" tab mounts the dashboard
 * on this tab's own mesh.
 */
import type { Mesh } from 'meshrtc';
import { assignPeerColors, mountDashboard, shortId, type DashboardHandle } from 'meshrtc/dashboard';
import { PALETTE, REGIONS_X, REGIONS_Y, demoActors, type Player } from '../actors.js';
import { WorldCanvas } from './canvas.js';
import { Chat } from './chat.js';
import { joinMesh, loadConfig, type DemoConfig } from './connect.js';
import { loadPlayer, savePlayer } from './names.js';
import { h, replace } from './ui.js';
import { World } from './world.js';

type Status = { kind: 'connecting' | 'live' | 'syncing' | 'trouble' | 'offline'; text: string; title?: string };

const app = document.getElementById('app')!;
const statusPill = h('div', { class: 'status connecting', 'data-testid': 'status', role: 'status' }, h('span', { class: 'dot' }), h('span', { class: 'status-text' }, 'Connecting…'));
const playTab = h('button', { class: 'tab active', type: 'button', 'data-testid': 'tab-play' }, 'Play');
const dashTab = h('button', { class: 'tab', type: 'button', 'data-testid': 'tab-dashboard' }, 'Mesh dashboard');
const youChip = h('div', { class: 'you-chip' });
const header = h(
  'header',
  { class: 'topbar' },
  h('div', { class: 'brand' }, logo(), h('span', {}, 'Pixel Mesh'), h('span', { class: 'brand-sub' }, 'a meshrtc demo')),
  h('nav', { class: 'tabs' }, playTab, dashTab),
  h('div', { class: 'topbar-right' }, statusPill, youChip),
);
const playView = h('main', { class: 'play' });
const dashView = h('main', { class: 'dash-view', hidden: true });
app.replaceChildren(header, playView, dashView);
playView.append(h('div', { class: 'splash' }, h('div', { class: 'spinner' }), h('p', {}, 'Joining the mesh…')));

function setStatus(s: Status): void {
  statusPill.className = `status ${s.kind}`;
  statusPill.title = s.title ?? '';
  replace(statusPill, h('span', { class: 'dot' }), h('span', { class: 'status-text' }, s.text));
}

function logo(): SVGSVGElement {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'logo');
  svg.innerHTML =
    '<rect x="2" y="2" width="9" height="9" rx="2" fill="#41a6f6"/><rect x="13" y="2" width="9" height="9" rx="2" fill="#e4415f"/>' +
    '<rect x="2" y="13" width="9" height="9" rx="2" fill="#ffcd75"/><rect x="13" y="13" width="9" height="9" rx="2" fill="#38b764"/>';
  return svg;
}

async function main(): Promise<void> {
  let config: DemoConfig;
  let mesh: Mesh;
  try {
    config = await loadConfig();
    mesh = await joinMesh(config, { prefix: 'pixel', capabilities: ['world'], actors: demoActors });
  } catch (error) {
    setStatus({ kind: 'offline', text: 'Cannot join', title: String((error as Error)?.message ?? error) });
    replace(
      playView,
      h(
        'div',
        { class: 'splash error' },
        h('h2', {}, 'Could not join the mesh'),
        h('p', {}, String((error as Error)?.message ?? error)),
        h('p', { class: 'muted' }, 'Is `npm start` still running? Reload the page to try again.'),
      ),
    );
    return;
  }
  let player: Player = loadPlayer(mesh.peerId);
  const world = new World(mesh, player);
  let tool = { color: player.color, size: 1 };
  let showOwners = true;
  let colors = assignPeerColors(mesh.table.peers.map((p) => p.id));
  const peerColor = (id: string | undefined): string => (id === undefined ? '#2a3140' : (colors.get(id) ?? '#8899aa'));

  // ---- the stage: tools, canvas, hover info
  const swatches = PALETTE.map((c, i) => {
    const b = h('button', { type: 'button', class: `swatch${i === 0 ? ' eraser' : ''}`, style: `--c:${c}`, title: i === 0 ? 'Eraser' : `Colour ${i}`, 'aria-label': i === 0 ? 'eraser' : `colour ${i}`, 'data-color': i });
    b.addEventListener('click', () => {
      tool = { ...tool, color: i };
      renderTools();
    });
    return b;
  });
  const sizes = [1, 2, 3].map((n) => {
    const b = h('button', { type: 'button', class: 'size', title: `Brush ${n}×${n}`, 'data-size': n }, h('span', { style: `width:${2 + n * 3}px;height:${2 + n * 3}px` }));
    b.addEventListener('click', () => {
      tool = { ...tool, size: n };
      renderTools();
    });
    return b;
  });
  const ownersToggle = h('input', { type: 'checkbox', checked: true, 'data-testid': 'show-owners' });
  ownersToggle.addEventListener('change', () => {
    showOwners = ownersToggle.checked;
    canvas.invalidate();
  });
  const renderTools = (): void => {
    swatches.forEach((b, i) => b.classList.toggle('selected', i === tool.color));
    sizes.forEach((b, i) => b.classList.toggle('selected', i + 1 === tool.size));
  };
  renderTools();

  const hoverInfo = h('div', { class: 'hover-info', 'data-testid': 'hover-info' });
  let hovered: string | undefined;
  const renderHover = (): void => {
    if (hovered === undefined) {
      replace(hoverInfo, h('span', { class: 'muted' }, `${REGIONS_X * REGIONS_Y} regions, each an actor world/region/… placed on the peer the ring picks. Hover one to see its owner.`));
      return;
    }
    const r = world.regions().find((x) => x.id === hovered);
    if (r === undefined) return;
    const who = (id: string | undefined): HTMLElement =>
      id === undefined
        ? h('span', { class: 'muted' }, 'none')
        : h('span', { class: 'peer-tag', style: `--pc:${peerColor(id)}` }, id === mesh.peerId ? 'this tab' : `${shortId(id)}${mesh.table.peer(id)?.kind === 'edge' ? ' (edge)' : ''}`);
    replace(
      hoverInfo,
      h('strong', {}, `world/region/${r.id}`),
      h('span', { class: 'muted' }, ` shard ${mesh.shardOf(r.id)} · owner `),
      who(r.owner),
      h('span', { class: 'muted' }, ' · standby '),
      who(r.standby),
      h('span', { class: 'muted' }, ` · ${r.seq} paints`),
    );
  };

  const canvas = new WorldCanvas(world, {
    tool: () => tool,
    showOwners: () => showOwners,
    peerColor,
    selfId: mesh.peerId,
    onHover: (id) => {
      hovered = id;
      renderHover();
    },
  });
  // For the e2e tests and curious developers (try `__pixelMesh.mesh.stats()` in the console).
  (globalThis as { __pixelMesh?: unknown }).__pixelMesh = { mesh, world, canvas, config };
  renderHover();

  const stage = h(
    'section',
    { class: 'stage card' },
    h(
      'div',
      { class: 'toolbar' },
      h('div', { class: 'palette', role: 'toolbar', 'aria-label': 'colours' }, ...swatches),
      h('div', { class: 'sizes' }, ...sizes),
      h('label', { class: 'toggle' }, ownersToggle, h('span', {}, 'Show owners')),
    ),
    canvas.element,
    hoverInfo,
  );

  // ---- sidebar: you, the mesh, players, chat
  const nameInput = h('input', { class: 'name-input', value: player.name, maxlength: 24, 'aria-label': 'your name', 'data-testid': 'name' });
  const colorDots = PALETTE.slice(1).map((c, k) => {
    const b = h('button', { type: 'button', class: 'color-dot', style: `--c:${c}`, 'aria-label': `player colour ${k + 1}` });
    b.addEventListener('click', () => updatePlayer({ ...player, color: k + 1 }));
    return b;
  });
  const updatePlayer = (next: Player): void => {
    player = next;
    world.player = next;
    savePlayer(next);
    renderYou();
  };
  nameInput.addEventListener('change', () => updatePlayer({ ...player, name: nameInput.value.trim().slice(0, 24) || player.name }));
  const renderYou = (): void => {
    colorDots.forEach((b, k) => b.classList.toggle('selected', k + 1 === player.color));
    replace(youChip, h('span', { class: 'you-dot', style: `background:${PALETTE[player.color]}` }), h('span', {}, player.name));
  };
  renderYou();
  const youCard = h('section', { class: 'card you' }, h('h2', {}, 'You'), nameInput, h('div', { class: 'color-dots' }, ...colorDots));

  const meshList = h('div', { class: 'peer-list', 'data-testid': 'peer-list' });
  const meshCard = h(
    'section',
    { class: 'card mesh' },
    h('h2', {}, 'Who owns the world', h('span', { class: 'muted small', 'data-testid': 'view' })),
    meshList,
    h('p', { class: 'muted small' }, 'Every tab serves ', h('code', {}, 'world'), '. Open another tab and watch regions move to it; close it and its standby takes over.'),
  );
  const renderMesh = (): void => {
    colors = assignPeerColors(mesh.table.peers.map((p) => p.id));
    const owned = new Map<string, number>();
    const standby = new Map<string, number>();
    for (const r of world.regions()) {
      if (r.owner !== undefined) owned.set(r.owner, (owned.get(r.owner) ?? 0) + 1);
      if (r.standby !== undefined) standby.set(r.standby, (standby.get(r.standby) ?? 0) + 1);
    }
    const total = REGIONS_X * REGIONS_Y;
    const peers = [...mesh.table.peers].sort((a, b) => (owned.get(b.id) ?? 0) - (owned.get(a.id) ?? 0) || (a.id < b.id ? -1 : 1));
    replace(
      meshList,
      ...peers.map((p) => {
        const n = owned.get(p.id) ?? 0;
        return h(
          'div',
          { class: 'peer-row', 'data-peer': p.id },
          h('span', { class: 'peer-swatch', style: `background:${peerColor(p.id)}` }),
          h('span', { class: 'peer-name' }, p.id === mesh.peerId ? 'this tab' : shortId(p.id), h('span', { class: `kind ${p.kind}` }, p.kind)),
          h('span', { class: 'peer-caps' }, p.capabilities.join(' · ') || 'client only'),
          h('span', { class: 'peer-bar' }, h('span', { style: `width:${(100 * n) / total}%;background:${peerColor(p.id)}` })),
          h('span', { class: 'peer-count', title: `${n} regions owned, standby for ${standby.get(p.id) ?? 0}` }, `${n}`),
        );
      }),
    );
    const viewEl = meshCard.querySelector('[data-testid="view"]');
    if (viewEl !== null) viewEl.textContent = ` · ${mesh.table.peers.length} peers · view …${String(mesh.view).slice(-4)}`;
  };

  const scoreList = h('ol', { class: 'scores', 'data-testid': 'scores' });
  const scoreCard = h('section', { class: 'card' }, h('h2', {}, 'Painters', h('span', { class: 'muted small' }, ' · pixels on the wall')), scoreList);
  const renderScores = (): void => {
    const online = new Set([player.id, ...[...world.cursors()].map((c) => c.player.id)]);
    const scores = world.scores().slice(0, 6);
    if (scores.length === 0) {
      replace(scoreList, h('li', { class: 'muted empty' }, 'Nobody has painted yet. Be the first!'));
      return;
    }
    replace(
      scoreList,
      ...scores.map((s) =>
        h(
          'li',
          { class: s.player.id === player.id ? 'me' : '' },
          h('span', { class: 'you-dot', style: `background:${PALETTE[s.player.color]}` }),
          h('span', { class: 'score-name' }, s.player.id === player.id ? `${player.name} (you)` : s.player.name),
          online.has(s.player.id) ? h('span', { class: 'online', title: 'online' }) : null,
          h('span', { class: 'score' }, String(s.pixels)),
        ),
      ),
    );
  };

  const chat = new Chat(mesh, () => player);
  const side = h('aside', { class: 'side' }, youCard, meshCard, scoreCard, chat.element);
  replace(playView, stage, side);

  // ---- live updates, batched per frame
  let pending = { mesh: true, scores: true, status: true };
  let frame = 0;
  const schedule = (what: Partial<typeof pending>): void => {
    pending = { mesh: pending.mesh || !!what.mesh, scores: pending.scores || !!what.scores, status: pending.status || !!what.status };
    if (frame !== 0) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      const p = pending;
      pending = { mesh: false, scores: false, status: false };
      if (p.mesh) {
        renderMesh();
        renderHover();
        canvas.invalidate();
      }
      if (p.scores) renderScores();
      if (p.status) renderStatus();
    });
  };
  world.onChange((c) => schedule({ mesh: !!c.owners, scores: c.pixels !== undefined || !!c.cursors, status: !!c.sync }));
  mesh.table.onChange((c) => c.type === 'view' && schedule({ mesh: true, status: true }));

  const renderStatus = (): void => {
    const s = world.syncStatus();
    const peers = mesh.table.peers.length;
    const worldPeers = mesh.table.peersFor('world').length;
    if (mesh.signalingStatus === 'connecting') setStatus({ kind: 'trouble', text: 'Reconnecting…', title: 'signaling server unreachable; peers already connected keep playing' });
    else if (mesh.signalingStatus === 'closed') setStatus({ kind: 'offline', text: 'Disconnected', title: 'left the room' });
    else if (worldPeers === 0) setStatus({ kind: 'trouble', text: 'No world peer', title: 'no peer serves the world capability' });
    else if (s.failures >= 2) setStatus({ kind: 'trouble', text: `Retrying… (${s.lastError ?? 'error'})`, title: `${s.pendingPixels} pixels waiting` });
    else if (s.loadedRegions < s.regions) setStatus({ kind: 'syncing', text: `Loading ${s.loadedRegions}/${s.regions} regions` });
    else if (s.pendingPixels > 0) setStatus({ kind: 'syncing', text: `Live · saving ${s.pendingPixels} px`, title: `${peers} peers in room ${config.room}` });
    else setStatus({ kind: 'live', text: `Live · ${peers} peer${peers === 1 ? '' : 's'}`, title: `room ${config.room} · this peer ${mesh.peerId}` });
  };
  mesh.on('signaling:status', () => schedule({ status: true }));
  addEventListener('online', () => schedule({ status: true }));
  addEventListener('offline', () => setStatus({ kind: 'offline', text: 'Offline' }));

  // ---- tabs: Play / Mesh dashboard (mounted on this tab's mesh while shown)
  let dashboard: DashboardHandle | undefined;
  const show = (which: 'play' | 'dash'): void => {
    playTab.classList.toggle('active', which === 'play');
    dashTab.classList.toggle('active', which === 'dash');
    playView.hidden = which !== 'play';
    dashView.hidden = which !== 'dash';
    if (which === 'dash' && dashboard === undefined) dashboard = mountDashboard(dashView, mesh, { title: `Room ${config.room}` });
    if (which === 'play' && dashboard !== undefined) {
      dashboard.destroy();
      dashboard = undefined;
    }
    history.replaceState(null, '', which === 'dash' ? '#dashboard' : '#');
  };
  playTab.addEventListener('click', () => show('play'));
  dashTab.addEventListener('click', () => show('dash'));
  if (location.hash === '#dashboard') show('dash');

  world.start();
  chat.start();
  schedule({ mesh: true, scores: true, status: true });

  // Closing or reloading the tab: leave the room at once, so the standbys take over without waiting for timeouts.
  addEventListener('pagehide', () => {
    world.stop();
    chat.stop();
    void mesh.close();
  });
  // Back from the back-forward cache: this peer has left the room; join again as a fresh page.
  addEventListener('pageshow', (e) => {
    if (e.persisted) location.reload();
  });
}

void main();
