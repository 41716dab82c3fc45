/**
 * Real processes for tests: a signaling server and Node edge peers, each its own OS process, driven over
 * stdin/stdout. Kill them with any signal (SIGKILL for crash tests). Sources run through tsx; built files
 * (`dist/`) run on plain Node.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../clock/clock.js';
import { meshError, type MeshErrorCode } from '../errors.js';
import { onJsonLines } from './json-lines.js';
import type { CallOptions, CallRequest, CallResult } from '../actors/define.js';
import type { PeerInfo } from '../membership/types.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const isSource = import.meta.url.endsWith('.ts');
const ext = isSource ? '.ts' : '.js';

function nodeArgs(script: string): string[] {
  return isSource ? ['--import', 'tsx', script] : [script];
}

interface Line {
  seq?: number;
  ok?: boolean;
  result?: unknown;
  code?: string;
  message?: string;
  event?: string;
  [k: string]: unknown;
}

/** Output a child wrote to stderr, kept for failure messages. */
function collect(child: ChildProcess, sink: string[]): void {
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    sink.push(d);
    if (sink.length > 200) sink.shift();
  });
}

/** A signaling server in its own process. */
export interface SignalingProcess {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `meshrtc-signaling` as a child process on 127.0.0.1 (`port` 0 picks a free one). */
export async function startSignalingProcess(options: { port?: number; pingIntervalMs?: number } = {}): Promise<SignalingProcess> {
  const script = fileURLToPath(new URL(`../../signaling-server/cli${ext}`, import.meta.url));
  const args = [...nodeArgs(script), '--port', String(options.port ?? 0), '--host', '127.0.0.1', '--log-level', 'warn'];
  if (options.pingIntervalMs !== undefined) args.push('--ping-interval', String(options.pingIntervalMs));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const errors: string[] = [];
  collect(child, errors);
  const url = await new Promise<string>((resolve, reject) => {
    let text = '';
    const timer = systemClock.setTimeout(() => reject(new Error(`signaling server did not start: ${errors.join('')}`)), 20_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      text += d;
      const m = /listening on (ws:\/\/\S+)/.exec(text);
      if (m !== null) {
        timer.cancel();
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => {
      timer.cancel();
      reject(new Error(`signaling server exited with ${String(code)}: ${errors.join('')}`));
    });
  });
  return {
    url,
    port: Number(new URL(url).port),
    pid: child.pid!,
    kill: (signal = 'SIGTERM') => killAndWait(child, signal),
  };
}

function killAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** Options of {@link startEdgePeer}. */
export interface EdgePeerOptions {
  signalingUrl: string;
  room: string;
  /** Omitted with `dataDir`: the id kept in the data directory (or a new one). */
  peerId?: string;
  /** Keep the peer's id and its actors' state here (LMDB); a restart with the same directory is the same peer. */
  dataDir?: string;
  capabilities: readonly string[];
  /** Path of a module exporting actor definitions. */
  actorsModule?: string;
  engine?: 'node-datachannel' | 'werift';
  heartbeatTimeoutMs?: number;
  defaultTimeoutMs?: number;
}

/** A Node edge peer in its own process. */
export interface EdgePeerProcess {
  readonly peerId: string;
  readonly pid: number;
  /** Membership events (`{ event: 'view', version, peers }`) seen so far. */
  readonly events: ReadonlyArray<Record<string, unknown>>;
  call<R = unknown>(request: CallRequest, options?: Omit<CallOptions, 'signal'>): Promise<CallResult<R>>;
  cast(request: CallRequest): Promise<void>;
  ownerOf(capability: string, id: string): Promise<string | undefined>;
  view(): Promise<{ view: number; peers: PeerInfo[] }>;
  stats(): Promise<Record<string, unknown>>;
  /** Resolves once this peer's view lists exactly `peerIds` (any order), or rejects after `timeoutMs`. */
  waitForPeers(peerIds: readonly string[], timeoutMs?: number): Promise<void>;
  /** Graceful close. */
  close(): Promise<void>;
  /** Sends a signal (SIGKILL for a crash) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** What the process wrote to stderr (for failure messages). */
  stderr(): string;
}

/** Starts an edge peer as a child process and resolves once it has joined its room. */
export async function startEdgePeer(options: EdgePeerOptions): Promise<EdgePeerProcess> {
  const script = `${here}edge-peer-main${ext}`;
  const child = spawn(process.execPath, nodeArgs(script), {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, MESHRTC_EDGE_CONFIG: JSON.stringify(options) },
  });
  const errors: string[] = [];
  collect(child, errors);
  const waiting = new Map<number, { resolve: (l: Line) => void; reject: (e: Error) => void }>();
  const events: Array<Record<string, unknown>> = [];
  let seq = 0;
  let exited = false;
  let readyPeerId = options.peerId ?? '';
  let ready: (() => void) | undefined;
  let readyFail: ((e: Error) => void) | undefined;
  const readyPromise = new Promise<void>((resolve, reject) => {
    ready = resolve;
    readyFail = reject;
  });
  onJsonLines(child.stdout, (value) => {
    const line = value as Line;
    if (line.event === 'ready') {
      readyPeerId = String(line['peerId']);
      ready?.();
    } else if (line.event !== undefined) events.push(line);
    else if (line.seq !== undefined) {
      const w = waiting.get(line.seq);
      waiting.delete(line.seq);
      w?.resolve(line);
    }
  });
  child.on('exit', (code, signal) => {
    exited = true;
    const e = new Error(`edge peer ${options.peerId ?? options.dataDir ?? ''} exited (${signal ?? String(code)}): ${errors.join('').slice(-2000)}`);
    readyFail?.(e);
    for (const w of waiting.values()) w.reject(e);
    waiting.clear();
  });
  const timer = systemClock.setTimeout(() => readyFail?.(new Error(`edge peer ${options.peerId} did not join within 30 s: ${errors.join('')}`)), 30_000);
  try {
    await readyPromise;
  } finally {
    timer.cancel();
  }

  const send = (cmd: string, fields: Record<string, unknown> = {}): Promise<Line> => {
    if (exited) return Promise.reject(new Error(`edge peer ${options.peerId} has exited`));
    const s = ++seq;
    return new Promise<Line>((resolve, reject) => {
      waiting.set(s, { resolve, reject });
      child.stdin.write(`${JSON.stringify({ seq: s, cmd, ...fields })}\n`);
    });
  };
  const result = async <T>(cmd: string, fields?: Record<string, unknown>): Promise<T> => {
    const line = await send(cmd, fields);
    if (line.ok !== true) {
      const code = (line.code ?? 'ProtocolError') as MeshErrorCode;
      throw code === ('Untyped' as MeshErrorCode) ? new Error(line.message) : meshError(code, line.message ?? code, { details: { peer: options.peerId } });
    }
    return line.result as T;
  };

  const handle: EdgePeerProcess = {
    peerId: readyPeerId,
    pid: child.pid!,
    events,
    call: <R>(request: CallRequest, callOptions?: Omit<CallOptions, 'signal'>) =>
      result<CallResult<R>>('call', { request, ...(callOptions === undefined ? {} : { options: callOptions }) }),
    cast: async (request) => void (await result('cast', { request })),
    ownerOf: async (capability, id) => (await result<{ owner: string | null }>('owner', { capability, id })).owner ?? undefined,
    view: () => result('view'),
    stats: () => result('stats'),
    async waitForPeers(peerIds, timeoutMs = 20_000) {
      const want = [...peerIds].sort().join(',');
      const end = Date.now() + timeoutMs;
      for (;;) {
        const v = await handle.view();
        const have = v.peers.map((p) => p.id).sort().join(',');
        if (have === want) return;
        if (Date.now() > end) throw new Error(`peer ${options.peerId} sees [${have}], wanted [${want}]`);
        await new Promise<void>((r) => systemClock.setTimeout(r, 50));
      }
    },
    async close() {
      if (exited) return;
      const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await send('close').catch(() => {});
      await exit;
    },
    kill: (signal = 'SIGTERM') => killAndWait(child, signal),
    stderr: () => errors.join(''),
  };
  return handle;
}

