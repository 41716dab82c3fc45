/**
 * How a page of the demo joins the mesh: read `/config.json` (served by the launcher), optionally prepare loopback
 * WebRTC (tests), then `createMesh`, which claims this tab's peer id (Web Locks) and opens its IndexedDB store.
 */
import { createMesh, type AnyActorDefinition, type Mesh } from 'meshrtc';

/** What the launcher tells the page (see `demo/launcher.ts`). */
export interface DemoConfig {
  signalingUrl: string;
  room: string;
  loopbackOnly: boolean;
  edgePeerId: string | undefined;
}

/**
 * The launcher's config, with overrides from the query string (`?room=`, `?signaling=`, `?loopback=1`), so
 * tests can point one page server at several rooms.
 */
export async function loadConfig(): Promise<DemoConfig> {
  const res = await fetch('/config.json', { cache: 'no-store' });
  if (!res.ok) throw new Error(`GET /config.json: ${res.status}`);
  const config = (await res.json()) as DemoConfig;
  const q = new URLSearchParams(location.search);
  return {
    signalingUrl: q.get('signaling') ?? config.signalingUrl,
    room: q.get('room') ?? config.room,
    loopbackOnly: q.has('loopback') ? q.get('loopback') !== '0' : config.loopbackOnly,
    edgePeerId: config.edgePeerId,
  };
}

/**
 * Chromium gathers loopback ICE candidates only once the page holds a media permission (see
 * WEBRTC-NOTES.md); test browsers grant a fake device. Only used with `loopbackOnly`.
 */
async function prepareLoopback(): Promise<void> {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    for (const track of stream.getTracks()) track.stop();
  } catch {
    // No fake device: candidates stay on the default interface.
  }
}

/** Options of {@link joinMesh}. */
export interface JoinOptions {
  /** Namespace of this page's peer ids (one per page type, so the dashboard never takes a player's id). */
  prefix: string;
  capabilities: readonly string[];
  actors: readonly AnyActorDefinition[];
}

/** Joins the room as this tab's peer. Keeps the peer id across reloads; durable state lives in this peer's IndexedDB. */
export async function joinMesh(config: DemoConfig, options: JoinOptions): Promise<Mesh> {
  if (config.loopbackOnly) await prepareLoopback();
  return createMesh({
    signalingUrl: config.signalingUrl,
    room: config.room,
    kind: 'browser',
    capabilities: options.capabilities,
    actors: options.actors,
    identity: { prefix: options.prefix },
    loopbackOnly: config.loopbackOnly,
  });
}
