/**
 * The page side of the Playwright cluster helper ({@link ../testing/cluster.ts}): a browser module that puts a
 * small driver on `globalThis.__meshrtc`, so a test can start a real peer in the page and call through it with
 * `page.evaluate`. Everything crosses the page boundary as plain JSON: errors come back as `{ ok: false, code }`
 * instead of rejections, so a typed mesh error keeps its code.
 *
 * Runs in browsers only (it imports the browser entry). `installHarness(actorsModule)` is called by the page the
 * cluster helper serves, with the user's actors module.
 */
import type { Mesh } from '../actors/mesh.js';
import { collectActorDefinitions } from '../actors/collect.js';
import type { CallOptions, CallRequest } from '../actors/define.js';
import { isMeshError } from '../errors.js';
import { createMesh, type BrowserMeshOptions } from '../index.browser.js';
import { murmur3_32, shardFor } from '../placement/hash.js';
import { SHARD_TEST_VECTORS } from '../placement/vectors.js';
import { browserEngine } from '../transport/engines/browser.js';

/** What a page peer is started with (JSON). */
export interface HarnessStartOptions {
  signalingUrl: string;
  room: string;
  capabilities: string[];
  /** Omitted: claimed with Web Locks (kept across reloads). */
  peerId?: string;
  /** IndexedDB persistence (default true). */
  persist?: boolean;
  /** Only 127.0.0.1 ICE candidates (default true). */
  loopbackOnly?: boolean;
  heartbeatTimeoutMs?: number;
  defaultTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Record the inspection stream for `events()` (default true; benchmarks turn it off: it costs per call). */
  recordEvents?: boolean;
}

/** A call outcome as JSON. */
export type HarnessCallResult = { ok: true; reply: unknown; peerId: string } | { ok: false; code: string; message: string };

/** One selected ICE candidate pair of a connection of this page. */
export interface SelectedPair {
  state: string;
  local: { address: string | null; port: number | null; candidateType: string | null };
  remote: { address: string | null; port: number | null; candidateType: string | null };
}

/** The driver on `globalThis.__meshrtc`. */
export interface BrowserHarness {
  /** Starts the page's peer; resolves with its id once it is in the room. */
  start(options: HarnessStartOptions): Promise<{ peerId: string }>;
  call(request: CallRequest, options?: Omit<CallOptions, 'signal'>): Promise<HarnessCallResult>;
  cast(request: CallRequest): void;
  ownerOf(capability: string, id: string): string | null;
  view(): { version: number; peers: { id: string; kind: string; capabilities: readonly string[] }[] };
  activeActors(): { capability: string; type: string; id: string }[];
  stats(): Record<string, unknown>;
  /** Events of the inspection stream seen so far (type and data), oldest first, at most 10,000. */
  events(): { type: string; at: number; data: unknown }[];
  /** The selected candidate pairs of every connection this page made (for loopback assertions). */
  selectedPairs(): Promise<SelectedPair[]>;
  close(): Promise<void>;
  /**
   * Load generator for benchmarks: `inFlight` callers, each calling `requests[i % requests.length]` back to back
   * for `durationMs`. Returns completed calls, elapsed seconds, latency percentiles (ms) and failures.
   */
  bench(requests: CallRequest[], inFlight: number, durationMs: number): Promise<{ calls: number; seconds: number; p50: number; p99: number; failures: number }>;
  /** The published placement vectors recomputed in this page: `{ id, hash, shard }` as this runtime computes them. */
  placementVectors(): { id: string; hash: number; shard: number }[];
  readonly mesh: Mesh | undefined;
}

const MAX_EVENTS = 10_000;

/**
 * Installs the driver on `globalThis.__meshrtc`; `actorsModule` is the user's module namespace (its actor
 * definitions are collected as the edge CLI does).
 */
export function installHarness(actorsModule: Readonly<Record<string, unknown>>): BrowserHarness {
  const actors = collectActorDefinitions(actorsModule);
  const connections = new Set<RTCPeerConnection>();
  const Native = globalThis.RTCPeerConnection;
  /** The native constructor, recording every connection (closed ones are pruned on read). */
  class RecordingPeerConnection extends Native {
    constructor(config?: RTCConfiguration) {
      super(config);
      connections.add(this);
    }
  }
  const events: { type: string; at: number; data: unknown }[] = [];
  let mesh: Mesh | undefined;

  const harness: BrowserHarness = {
    get mesh() {
      return mesh;
    },
    async start(o) {
      if (mesh !== undefined) throw new Error('this page already started a peer');
      if (o.loopbackOnly !== false) await unlockLoopbackCandidates();
      const options: BrowserMeshOptions = {
        signalingUrl: o.signalingUrl,
        room: o.room,
        capabilities: o.capabilities,
        actors,
        engine: browserEngine(RecordingPeerConnection),
        loopbackOnly: o.loopbackOnly ?? true,
        persist: o.persist ?? true,
        ...(o.peerId === undefined ? {} : { peerId: o.peerId }),
        ...(o.heartbeatTimeoutMs === undefined ? {} : { heartbeatTimeoutMs: o.heartbeatTimeoutMs }),
        ...(o.defaultTimeoutMs === undefined ? {} : { defaultTimeoutMs: o.defaultTimeoutMs }),
        ...(o.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: o.idleTimeoutMs }),
      };
      mesh = await createMesh(options);
      if (o.recordEvents !== false) mesh.inspect((e) => {
        if (events.length >= MAX_EVENTS) events.shift();
        events.push({ type: e.type, at: e.at, data: jsonSafe(e.data) });
      });
      return { peerId: mesh.peerId };
    },
    async call(request, options) {
      try {
        const r = await started().call(request, options);
        return { ok: true, reply: r.reply, peerId: r.peerId };
      } catch (e) {
        return { ok: false, code: isMeshError(e) ? e.code : 'Untyped', message: e instanceof Error ? e.message : String(e) };
      }
    },
    cast: (request) => started().cast(request),
    ownerOf: (capability, id) => started().ownerOf(capability, id) ?? null,
    view: () => {
      const m = started();
      return { version: m.view, peers: m.table.peers.map((p) => ({ id: p.id, kind: p.kind, capabilities: p.capabilities })) };
    },
    activeActors: () => started().activeActors().map((a) => ({ capability: a.capability, type: a.type, id: a.id })),
    stats: () => jsonSafe(started().stats()) as Record<string, unknown>,
    events: () => events.slice(),
    async selectedPairs() {
      const out: SelectedPair[] = [];
      for (const pc of [...connections]) {
        if (pc.connectionState === 'closed') {
          connections.delete(pc);
          continue;
        }
        const stats = await pc.getStats();
        const byId = new Map<string, Record<string, unknown>>();
        stats.forEach((s: Record<string, unknown>) => byId.set(s['id'] as string, s));
        for (const s of byId.values()) {
          if (s['type'] !== 'candidate-pair' || s['nominated'] !== true || s['state'] !== 'succeeded') continue;
          const l = byId.get(s['localCandidateId'] as string);
          const r = byId.get(s['remoteCandidateId'] as string);
          const side = (c: Record<string, unknown> | undefined): SelectedPair['local'] => ({
            address: (c?.['address'] as string | undefined) ?? null,
            port: (c?.['port'] as number | undefined) ?? null,
            candidateType: (c?.['candidateType'] as string | undefined) ?? null,
          });
          out.push({ state: s['state'] as string, local: side(l), remote: side(r) });
        }
      }
      return out;
    },
    async bench(requests, inFlight, durationMs) {
      const m = started();
      const latencies: number[] = [];
      let calls = 0;
      let failures = 0;
      const t0 = performance.now();
      const end = t0 + durationMs;
      const worker = async (w: number): Promise<void> => {
        for (let i = w; performance.now() < end; i += inFlight) {
          const t = performance.now();
          try {
            await m.call(requests[i % requests.length]!);
            latencies.push(performance.now() - t);
            calls++;
          } catch {
            failures++;
          }
        }
      };
      await Promise.all(Array.from({ length: inFlight }, (_, w) => worker(w)));
      const seconds = (performance.now() - t0) / 1000;
      latencies.sort((a, b) => a - b);
      const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
      return { calls, seconds, p50: at(0.5), p99: at(0.99), failures };
    },
    placementVectors: () => SHARD_TEST_VECTORS.map((v) => ({ id: v.id, hash: murmur3_32(v.id, 0), shard: shardFor(v.id) })),
    async close() {
      const m = mesh;
      mesh = undefined;
      await m?.close();
    },
  };

  function started(): Mesh {
    if (mesh === undefined) throw new Error('the page peer is not started: call __meshrtc.start() first');
    return mesh;
  }

  (globalThis as { __meshrtc?: BrowserHarness }).__meshrtc = harness;
  return harness;
}

/**
 * Chromium gathers 127.0.0.1 host candidates only once the page holds a media permission: ask for a (fake)
 * camera once and stop its tracks. Needs `--use-fake-ui-for-media-stream --use-fake-device-for-media-stream`.
 */
async function unlockLoopbackCandidates(): Promise<void> {
  const media = (globalThis.navigator as Navigator | undefined)?.mediaDevices;
  if (media === undefined) return;
  const stream = await media.getUserMedia({ audio: true, video: false });
  for (const t of stream.getTracks()) t.stop();
}

/** Drops what JSON cannot carry (functions, cycles) so `page.evaluate` can return it. */
function jsonSafe(v: unknown): unknown {
  const seen = new WeakSet<object>();
  return JSON.parse(
    JSON.stringify(v, (_k, x: unknown) => {
      if (x instanceof Error) return { name: x.name, message: x.message, ...(isMeshError(x) ? { code: x.code } : {}) };
      if (typeof x === 'object' && x !== null) {
        if (seen.has(x)) return undefined;
        seen.add(x);
      }
      return typeof x === 'bigint' ? x.toString() : x;
    }) ?? 'null',
  ) as unknown;
}
