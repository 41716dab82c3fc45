/**
 * The standalone dashboard: joins the room as a pure client (it serves no capability, so it owns nothing and
 * changes no placement) and mounts `meshrtc/dashboard` on its mesh.
 */
import { mountDashboard } from 'meshrtc/dashboard';
import { demoActors } from '../actors.js';
import { joinMesh, loadConfig } from './connect.js';
import { h } from './ui.js';

const app = document.getElementById('app')!;
const status = h('div', { class: 'status connecting', 'data-testid': 'status' }, h('span', { class: 'dot' }), h('span', {}, 'Connecting…'));
const body = h('main', { class: 'dash-view' }, h('div', { class: 'splash' }, h('div', { class: 'spinner' }), h('p', {}, 'Joining the mesh…')));
app.replaceChildren(
  h(
    'header',
    { class: 'topbar' },
    h('div', { class: 'brand' }, h('span', {}, 'meshrtc'), h('span', { class: 'brand-sub' }, 'mesh dashboard')),
    h('nav', { class: 'tabs' }, h('a', { class: 'tab', href: '/' }, 'Play'), h('a', { class: 'tab active', href: '/dashboard.html' }, 'Mesh dashboard')),
    h('div', { class: 'topbar-right' }, status),
  ),
  body,
);

async function main(): Promise<void> {
  try {
    const config = await loadConfig();
    const mesh = await joinMesh(config, { prefix: 'dash', capabilities: [], actors: demoActors });
    (globalThis as { __mesh?: unknown }).__mesh = mesh;
    status.className = 'status live';
    status.replaceChildren(h('span', { class: 'dot' }), h('span', {}, `Observing room ${config.room}`));
    mountDashboard(body, mesh, { title: `Room ${config.room}` });
    addEventListener('pagehide', () => void mesh.close());
  } catch (error) {
    status.className = 'status offline';
    status.replaceChildren(h('span', { class: 'dot' }), h('span', {}, 'Cannot join'));
    body.replaceChildren(h('div', { class: 'splash error' }, h('h2', {}, 'Could not join the mesh'), h('p', {}, String((error as Error)?.message ?? error))));
  }
}

void main();
