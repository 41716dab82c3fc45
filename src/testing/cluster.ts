/**
 * `meshrtc/testing/cluster`: real clusters for Playwright tests. One call starts a signaling server (in this
 * process, on 127.0.0.1), a Vite dev server for the page peers, N browser peers (Chromium pages, each in its own
 * browser context unless they share a named one) and M Node edge peers (child processes), all with the actor
 * types of one module; it waits until every peer sees every other one, and hands back handles to call from any
 * peer, reload or close a page, kill an edge peer, and tear everything down.
 *
 * ```ts
 * const cluster = await startCluster({
 *   actors: new URL('./actors.ts', import.meta.url),
 *   pages: [{ capabilities: ['game'] }, { capabilities: ['chat'] }],
 *   edges: [{ capabilities: ['game', 'chat'] }],
 * });
 * const { reply, peerId } = await cluster.peers[0]!.call({ capability: 'game', type: 'counter', id: 'c1', payload: { op: 'add', arg: 1 } });
 * await cluster.close();
 * ```
 *
 * Node only. Needs `vite` and `playwright-core` (optional peer dependencies; `@playwright/test` brings the
 * latter). Chromium: see {@link launchChromium}.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createSignalingServer, type SignalingServer } from '../../signaling-server/server.js';
import type { CallOptions, CallRequest, CallResult } from '../actors/define.js';
import { systemClock } from '../clock/clock.js';
import { meshError, type MeshErrorCode } from '../errors.js';
import type { BrowserHarness, HarnessCallResult, HarnessStartOptions, SelectedPair } from './browser-harness.js';
import { launchChromium } from './chromium.js';

export { launchChromium, chromiumExecutable, CHROMIUM_WEBRTC_ARGS, SYSTEM_CHROMIUM } from './chromium.js';
export { ensureLoopbackNamespace, loopbackNamespaceUnavailable, netnsMode, runInLoopbackNamespace } from './netns.js';
import { startEdgePeer, type EdgePeerProcess } from './processes.js';

/** A browser peer to start. */
export interface PageSpec {
  capabilities: string[];
  /** Pages with the same context name share one browser context (one origin storage, like tabs of one window). */
  context?: string;
  /** Fixed peer id (default: claimed by the page with Web Locks, kept across reloads). */
  peerId?: string;
  /** IndexedDB persistence (default true). */
  persist?: boolean;
  /** Record the page's inspection stream (default true; benchmarks turn it off: it costs per call). */
  recordEvents?: boolean;
}

/** An edge peer to start (a child process). */
export interface EdgeSpec {
  capabilities: string[];
  peerId?: string;
  /** LMDB data directory (default: a fresh temporary one, removed with the cluster). */
  dataDir?: string;
  engine?: 'node-datachannel' | 'werift';
}

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** Module exporting the actor definitions every peer runs (TypeScript or JavaScript; pages load it via Vite). */
  actors?: string | URL;
  /** Browser peers: a count (each with `pageCapabilities`) or one spec per page. */
  pages?: number | PageSpec[];
  /** Capabilities of pages given by count (default `['game']`). */
  pageCapabilities?: string[];
  /** Edge peers. */
  edges?: EdgeSpec[];
  /** Room name (default: a fresh random one). */
  room?: string;
  /** A Playwright browser to use (default: {@link launchChromium}; closed with the cluster only if launched here). */
  browser?: Browser;
  heartbeatTimeoutMs?: number;
  defaultTimeoutMs?: number;
  /** How long {@link Cluster.waitConverged} waits by default (default 60 000 ms). */
  convergeTimeoutMs?: number;
}

/** What every peer handle can do. */
export interface ClusterPeer {
  readonly kind: 'browser' | 'edge';
  readonly peerId: string;
  readonly capabilities: readonly string[];
  /** Calls through this peer; rejects with a `MeshError` carrying the code the peer saw. */
  call<R = unknown>(request: CallRequest, options?: Omit<CallOptions, 'signal'>): Promise<CallResult<R>>;
  ownerOf(capability: string, id: string): Promise<string | undefined>;
  /** Ids of the peers this peer currently sees (sorted). */
  peerIds(): Promise<string[]>;
  /** Addresses of the actors active on this peer. */
  activeActors(): Promise<{ capability: string; type: string; id: string }[]>;
  /** False once closed or killed. */
  readonly alive: boolean;
}

/** A browser peer. */
export interface PagePeer extends ClusterPeer {
  readonly kind: 'browser';
  readonly page: Page;
  readonly context: BrowserContext;
  /** Reloads the page and starts its peer again (same peer id through Web Locks, same IndexedDB state). */
  reload(): Promise<void>;
  /** Closes the page (a tab closing: no goodbye beyond what the browser does). */
  close(): Promise<void>;
  /** Runs `fn(harness, arg)` in the page. */
  evaluate<R, A>(fn: (harness: BrowserHarness, arg: A) => R | Promise<R>, arg: A): Promise<R>;
  /** Selected ICE candidate pairs of this page's connections. */
  selectedPairs(): Promise<SelectedPair[]>;
  /** How long the page's peer took to start and join its room on the last (re)start, ms (page load excluded). */
  readonly startMs: number;
}

/** An edge peer (child process). */
export interface EdgePeer extends ClusterPeer {
  readonly kind: 'edge';
  readonly process: EdgePeerProcess;
  /** Sends a signal (default SIGKILL: a crash) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Graceful leave. */
  close(): Promise<void>;
}

/** A running cluster. */
export interface Cluster {
  readonly room: string;
  readonly signalingUrl: string;
  /** The URL pages load (Vite dev server). */
  readonly pageUrl: string;
  readonly browser: Browser;
  /** Every peer started, pages first, in start order (closed ones stay, with `alive` false). */
  readonly peers: readonly ClusterPeer[];
  readonly pages: readonly PagePeer[];
  readonly edges: readonly EdgePeer[];
  addPage(spec: PageSpec): Promise<PagePeer>;
  addEdge(spec: EdgeSpec): Promise<EdgePeer>;
  /** Resolves with the time it took once every live peer sees exactly the live peers; rejects after `timeoutMs`. */
  waitConverged(timeoutMs?: number): Promise<number>;
  /** Stops the signaling server and starts it again on the same port (peers reconnect on their own). */
  restartSignaling(downMs?: number): Promise<void>;
  /** Closes every peer, the servers and (if launched here) the browser. */
  close(): Promise<void>;
}

const isSource = import.meta.url.endsWith('.ts');
const ext = isSource ? '.ts' : '.js';
const here = dirname(fileURLToPath(import.meta.url));

const sleep = (ms: number): Promise<void> => new Promise((r) => systemClock.setTimeout(r, ms));

function toPath(p: string | URL): string {
  return p instanceof URL ? fileURLToPath(p) : p;
}

function fromHarness<R>(r: HarnessCallResult, peer: string): CallResult<R> {
  if (r.ok) return { reply: r.reply as R, peerId: r.peerId };
  throw meshError(r.code as MeshErrorCode, r.message, { details: { peer } });
}

/** Starts a cluster (see the module comment). */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const room = options.room ?? `room-${Math.random().toString(36).slice(2, 10)}`;
  const actorsPath = options.actors === undefined ? undefined : toPath(options.actors);
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  };
  try {
    let signaling: SignalingServer = await createSignalingServer({ host: '127.0.0.1', port: 0, logger: false, stun: false });
    cleanups.push(() => signaling.close());
    const signalingPort = signaling.port;
    const signalingUrl = signaling.url;

    const { server, pageUrl } = await startPageServer(actorsPath);
    cleanups.push(() => server.close());

    const ownBrowser = options.browser === undefined;
    const browser = options.browser ?? (await launchChromium());
    if (ownBrowser) cleanups.push(() => browser.close());

    const contexts = new Map<string, BrowserContext>();
    const peers: ClusterPeer[] = [];
    const pages: PagePeer[] = [];
    const edges: EdgePeer[] = [];
    let contextSeq = 0;

    const addPage = async (spec: PageSpec): Promise<PagePeer> => {
      const ctxName = spec.context ?? `own-${contextSeq++}`;
      let context = contexts.get(ctxName);
      if (context === undefined) {
        context = await browser.newContext();
        contexts.set(ctxName, context);
      }
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      const startOptions: HarnessStartOptions = {
        signalingUrl,
        room,
        capabilities: spec.capabilities,
        ...(spec.peerId === undefined ? {} : { peerId: spec.peerId }),
        ...(spec.persist === undefined ? {} : { persist: spec.persist }),
        ...(spec.recordEvents === undefined ? {} : { recordEvents: spec.recordEvents }),
        ...(options.heartbeatTimeoutMs === undefined ? {} : { heartbeatTimeoutMs: options.heartbeatTimeoutMs }),
        ...(options.defaultTimeoutMs === undefined ? {} : { defaultTimeoutMs: options.defaultTimeoutMs }),
      };
      let startMs = 0;
      const boot = async (): Promise<string> => {
        await page.waitForFunction(() => (globalThis as { __meshrtcReady?: boolean }).__meshrtcReady === true, undefined, { timeout: 60_000 });
        const t0 = Date.now();
        const r = await page.evaluate((o) => (globalThis as unknown as { __meshrtc: BrowserHarness }).__meshrtc.start(o), startOptions);
        startMs = Date.now() - t0;
        return r.peerId;
      };
      await page.goto(pageUrl);
      let peerId: string;
      try {
        peerId = await boot();
      } catch (e) {
        throw new Error(`page peer did not start: ${e instanceof Error ? e.message : String(e)}; page errors: ${errors.join('; ')}`);
      }
      let alive = true;
      const evaluate = <R, A>(fn: (h: BrowserHarness, arg: A) => R | Promise<R>, arg: A): Promise<R> =>
        page.evaluate(
          ([src, a]) => {
            // eslint-disable-next-line @typescript-eslint/no-implied-eval
            const f = new Function(`return (${src})`)() as (h: unknown, arg: unknown) => unknown;
            return f((globalThis as unknown as { __meshrtc: unknown }).__meshrtc, a);
          },
          [fn.toString(), arg] as const,
        ) as Promise<R>;
      const handle: PagePeer = {
        kind: 'browser',
        get peerId() {
          return peerId;
        },
        capabilities: spec.capabilities,
        page,
        context,
        get alive() {
          return alive;
        },
        get startMs() {
          return startMs;
        },
        call: async <R>(request: CallRequest, callOptions?: Omit<CallOptions, 'signal'>) =>
          fromHarness<R>(await evaluate((h, a) => h.call(a.request, a.options), { request, options: callOptions }), peerId),
        ownerOf: async (capability, id) => (await evaluate((h, a) => h.ownerOf(a.capability, a.id), { capability, id })) ?? undefined,
        peerIds: async () => (await evaluate((h) => h.view().peers.map((p) => p.id), null)).sort(),
        activeActors: () => evaluate((h) => h.activeActors(), null),
        selectedPairs: () => evaluate((h) => h.selectedPairs(), null),
        evaluate,
        async reload() {
          await page.reload();
          peerId = await boot();
        },
        async close() {
          if (!alive) return;
          alive = false;
          await page.close();
        },
      };
      peers.push(handle);
      pages.push(handle);
      return handle;
    };

    const addEdge = async (spec: EdgeSpec): Promise<EdgePeer> => {
      let dataDir = spec.dataDir;
      if (dataDir === undefined) {
        const dir = await mkdtemp(join(tmpdir(), 'meshrtc-edge-'));
        cleanups.push(() => rm(dir, { recursive: true, force: true }));
        dataDir = dir;
      }
      const proc = await startEdgePeer({
        dataDir,
        signalingUrl,
        room,
        capabilities: spec.capabilities,
        ...(actorsPath === undefined ? {} : { actorsModule: actorsPath }),
        ...(spec.peerId === undefined ? {} : { peerId: spec.peerId }),
        ...(spec.engine === undefined ? {} : { engine: spec.engine }),
        ...(options.heartbeatTimeoutMs === undefined ? {} : { heartbeatTimeoutMs: options.heartbeatTimeoutMs }),
        ...(options.defaultTimeoutMs === undefined ? {} : { defaultTimeoutMs: options.defaultTimeoutMs }),
      });
      cleanups.push(() => proc.kill('SIGKILL'));
      let alive = true;
      const handle: EdgePeer = {
        kind: 'edge',
        peerId: proc.peerId,
        capabilities: spec.capabilities,
        process: proc,
        get alive() {
          return alive;
        },
        call: (request, callOptions) => proc.call(request, callOptions),
        ownerOf: (capability, id) => proc.ownerOf(capability, id),
        peerIds: async () => (await proc.view()).peers.map((p) => p.id).sort(),
        activeActors: async () => ((await proc.stats())['active'] as { capability: string; type: string; id: string }[]) ?? [],
        async kill(signal = 'SIGKILL') {
          alive = false;
          await proc.kill(signal);
        },
        async close() {
          alive = false;
          await proc.close();
        },
      };
      peers.push(handle);
      edges.push(handle);
      return handle;
    };

    const pageSpecs: PageSpec[] =
      typeof options.pages === 'number'
        ? Array.from({ length: options.pages }, () => ({ capabilities: options.pageCapabilities ?? ['game'] }))
        : (options.pages ?? []);
    // Edge processes start in parallel with the pages (each takes ~1 s to boot); pages one at a time, since
    // Web Locks claims in a shared context must not race for the same pooled id... they are serialised anyway.
    const edgeStarts = Promise.all((options.edges ?? []).map((e) => addEdge(e)));
    for (const spec of pageSpecs) await addPage(spec);
    await edgeStarts;

    const waitConverged = async (timeoutMs = options.convergeTimeoutMs ?? 60_000): Promise<number> => {
      const started = Date.now();
      let last = '';
      for (;;) {
        const live = peers.filter((p) => p.alive);
        const want = live.map((p) => p.peerId).sort().join(',');
        const seen = await Promise.all(live.map((p) => p.peerIds().then((ids) => ids.join(','), (e: unknown) => `error: ${String(e)}`)));
        if (seen.every((s) => s === want)) return Date.now() - started;
        last = seen.map((s, i) => `${live[i]!.peerId} sees [${s}]`).join('; ');
        if (Date.now() - started > timeoutMs) throw new Error(`cluster did not converge within ${timeoutMs} ms: want [${want}]; ${last}`);
        await sleep(100);
      }
    };

    const cluster: Cluster = {
      room,
      signalingUrl,
      pageUrl,
      browser,
      peers,
      pages,
      edges,
      addPage,
      addEdge,
      waitConverged,
      async restartSignaling(downMs = 500) {
        await signaling.close();
        await sleep(downMs);
        signaling = await createSignalingServer({ host: '127.0.0.1', port: signalingPort, logger: false, stun: false });
      },
      async close() {
        await Promise.all(pages.filter((p) => p.alive).map((p) => p.evaluate((h) => h.close(), null).catch(() => {})));
        await Promise.all(edges.filter((e) => e.alive).map((e) => e.close().catch(() => {})));
        for (const c of contexts.values()) await c.close().catch(() => {});
        await cleanup();
      },
    };
    await waitConverged();
    return cluster;
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** The Vite dev server that serves the page peers: a generated page loading the harness and the actors module. */
async function startPageServer(actorsPath: string | undefined): Promise<{ server: { close(): Promise<void> }; pageUrl: string }> {
  const { createServer } = await import('vite');
  const root = await mkdtemp(join(tmpdir(), 'meshrtc-pages-'));
  const harness = join(here, `browser-harness${ext}`);
  const browserEntry = join(here, '..', `index.browser${ext}`);
  if (!existsSync(harness) || !existsSync(browserEntry)) throw new Error(`meshrtc browser files missing next to ${here}`);
  const fs = (p: string): string => `/@fs${p}`;
  const actorsImport = actorsPath === undefined ? 'const actors = {};' : `import * as actors from ${JSON.stringify(fs(actorsPath))};`;
  await writeFile(
    join(root, 'index.html'),
    `<!doctype html><html><head><meta charset="utf-8"><title>meshrtc peer</title></head><body>
<script>
// Functions a test passes to page.evaluate may carry esbuild's keepNames helper (tsx, vitest): define it.
globalThis.__name ??= (f) => f;
</script>
<script type="module">
import { installHarness } from ${JSON.stringify(fs(harness))};
${actorsImport}
installHarness(actors);
globalThis.__meshrtcReady = true;
</script></body></html>
`,
  );
  const packageRoot = join(here, '..', '..', isSource ? '' : '..');
  const server = await createServer({
    root,
    configFile: false,
    logLevel: 'error',
    clearScreen: false,
    cacheDir: join(root, '.vite'),
    resolve: { alias: [{ find: /^meshrtc$/, replacement: browserEntry }] },
    server: {
      host: '127.0.0.1',
      port: 0,
      hmr: false,
      watch: null,
      fs: { strict: true, allow: [root, packageRoot, process.cwd(), ...(actorsPath === undefined ? [] : [dirname(actorsPath)])] },
    },
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (address === null || address === undefined || typeof address === 'string') throw new Error('vite dev server has no address');
  return {
    server: {
      close: async () => {
        await server.close();
        await rm(root, { recursive: true, force: true });
      },
    },
    pageUrl: `http://127.0.0.1:${address.port}/`,
  };
}
