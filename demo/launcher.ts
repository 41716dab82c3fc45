/**
 * Starts the whole demo in this process: the signaling server, one Node edge peer (capabilities `world` and
 * `chat`, running the demo's actors, state in LMDB) and the Vite dev server for `demo/` (with `meshrtc` aliased to
 * the library's sources, so no build step is needed). `npm start` runs it through `demo/start.ts`; the e2e tests
 * call {@link startDemo} directly.
 *
 * The page learns where signaling is from `GET /config.json`, served by a small Vite plugin.
 */
import { rm } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createServer as createViteServer, type Plugin, type ViteDevServer } from 'vite';
import { createSignalingServer, type SignalingServer } from '../signaling-server/server.js';
import { createMesh, type Mesh } from '../src/index.js';
import { demoActors } from './actors.js';

const demoDir = fileURLToPath(new URL('.', import.meta.url));
const srcDir = fileURLToPath(new URL('../src/', import.meta.url));

/** What the page reads from `/config.json`. */
export interface DemoConfig {
  readonly signalingUrl: string;
  readonly room: string;
  /** Only 127.0.0.1 ICE candidates (tests; the page then asks for a fake camera once, see WEBRTC-NOTES.md). */
  readonly loopbackOnly: boolean;
  /** The edge peer's id, so the page can label it. */
  readonly edgePeerId: string | undefined;
}

/** Options of {@link startDemo}. */
export interface DemoOptions {
  /** Interface every server binds (default 127.0.0.1). */
  host?: string;
  /** Port of the web page (Vite); 0 picks a free one (default 5173). */
  port?: number;
  /** Port of the signaling server; 0 picks a free one (default 8787). */
  signalingPort?: number;
  /** Room of the mesh (default `pixel-mesh`). */
  room?: string;
  /** Data directory of the edge peer (default `demo/.data/edge`); `false`: state in memory only. */
  dataDir?: string | false;
  /** Delete the data directory first. */
  fresh?: boolean;
  /** Start no edge peer (tests that bring their own). */
  edge?: boolean;
  /** Only loopback ICE candidates (tests). */
  loopbackOnly?: boolean;
  /** Vite log level (default `warn`). */
  logLevel?: 'info' | 'warn' | 'error' | 'silent';
  /** Signaling logs (default: silent). */
  signalingLogs?: boolean;
}

/** A running demo. */
export interface RunningDemo {
  /** The game's URL. */
  readonly url: string;
  /** The standalone dashboard's URL. */
  readonly dashboardUrl: string;
  readonly signalingUrl: string;
  readonly room: string;
  /** The edge peer (undefined with `edge: false`). */
  readonly edge: Mesh | undefined;
  /** Stops everything (Vite, the edge peer gracefully, signaling). Idempotent. */
  close(): Promise<void>;
}

/** A port another process holds. */
export class PortInUseError extends Error {
  constructor(
    readonly what: string,
    readonly host: string,
    readonly port: number,
    readonly setting: string,
  ) {
    super(`port ${port} on ${host} (${what}) is already in use; pick another with ${setting}`);
    this.name = 'PortInUseError';
  }
}

/** Resolves when `port` can be bound on `host`, rejects with {@link PortInUseError} otherwise (0 is always free). */
async function checkPort(host: string, port: number, what: string, setting: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'EADDRINUSE' || error.code === 'EACCES' ? new PortInUseError(what, host, port, setting) : error);
    });
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** Serves `/config.json` to the page. */
function configPlugin(config: () => DemoConfig): Plugin {
  return {
    name: 'meshrtc-demo-config',
    configureServer(server) {
      server.middlewares.use('/config.json', (_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.setHeader('cache-control', 'no-store');
        res.end(JSON.stringify(config()));
      });
    },
  };
}

/** Starts signaling, the edge peer and Vite. Rejects (having stopped what it started) if any part fails. */
export async function startDemo(options: DemoOptions = {}): Promise<RunningDemo> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 5173;
  const signalingPort = options.signalingPort ?? 8787;
  const room = options.room ?? 'pixel-mesh';
  const loopbackOnly = options.loopbackOnly ?? false;
  await checkPort(host, signalingPort, 'signaling server', 'SIGNALING_PORT=<n> or --signaling-port <n>');
  await checkPort(host, port, 'web page', 'PORT=<n> or --port <n>');

  const cleanups: Array<() => Promise<void>> = [];
  const close = async (): Promise<void> => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // keep stopping the rest
      }
    }
  };
  try {
    let signaling: SignalingServer;
    try {
      signaling = await createSignalingServer({ host, port: signalingPort, ...(options.signalingLogs === true ? {} : { logger: false }) });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new PortInUseError('signaling server', host, signalingPort, 'SIGNALING_PORT=<n> or --signaling-port <n>');
      throw error;
    }
    cleanups.push(() => signaling.close());

    let edge: Mesh | undefined;
    if (options.edge !== false) {
      const dataDir = options.dataDir === undefined ? fileURLToPath(new URL('./.data/edge', import.meta.url)) : options.dataDir;
      if (options.fresh === true && dataDir !== false) await rm(dataDir, { recursive: true, force: true });
      const mesh = await createMesh({
        signalingUrl: signaling.url,
        room,
        kind: 'edge',
        capabilities: ['world', 'chat'],
        actors: demoActors,
        loopbackOnly,
        ...(dataDir === false ? {} : { dataDir }),
      });
      edge = mesh;
      cleanups.push(() => mesh.close());
    }

    const config = (): DemoConfig => ({ signalingUrl: signaling.url, room, loopbackOnly, edgePeerId: edge?.peerId });
    // Vite in middleware mode on our own HTTP server: we own listening (a busy port is our error to report) and
    // shutdown (Vite's own server would exit the process on SIGTERM before the edge peer has left the room).
    const http = createHttpServer();
    // Cleanups run last-in first-out: Vite (and its HMR sockets) closes before the HTTP server.
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          http.closeAllConnections();
          http.close(() => resolve());
        }),
    );
    const vite: ViteDevServer = await createViteServer({
      configFile: false,
      root: demoDir,
      cacheDir: fileURLToPath(new URL('../node_modules/.vite-demo', import.meta.url)),
      appType: 'mpa',
      logLevel: options.logLevel ?? 'warn',
      clearScreen: false,
      server: { middlewareMode: true, hmr: { server: http }, fs: { allow: [fileURLToPath(new URL('..', import.meta.url))] } },
      resolve: {
        alias: [
          { find: /^meshrtc$/, replacement: `${srcDir}index.browser.ts` },
          { find: /^meshrtc\/dashboard$/, replacement: `${srcDir}dashboard/index.ts` },
        ],
      },
      // Scan both pages at start so dependencies are optimised before the first load (no reload mid-game).
      optimizeDeps: { entries: ['index.html', 'dashboard.html'], include: ['idb-keyval', 'msgpackr'] },
      plugins: [configPlugin(config)],
    });
    cleanups.push(() => vite.close());
    http.on('request', (req, res) => {
      vite.middlewares(req, res, () => {
        res.statusCode = 404;
        res.end('not found');
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => {
          http.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new PortInUseError('web page', host, port, 'PORT=<n> or --port <n>');
      throw error;
    }
    const address = http.address();
    const actualPort = typeof address === 'object' && address !== null ? address.port : port;
    const base = `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`;
    return {
      url: `${base}/`,
      dashboardUrl: `${base}/dashboard.html`,
      signalingUrl: signaling.url,
      room,
      edge,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
