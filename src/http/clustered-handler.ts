/**
 * Clustered HTTP: `clusteredHandler(handler, { mesh, capability, key })` wraps a fetch-style handler
 * (`(Request) => Response`, e.g. `app.fetch` of Hono) so that each request runs on the peer of the room that
 * owns its key (`key(req)`): an edge peer or a browser tab. Every peer that serves the capability registers the
 * same handler under the same name; the peer that received the HTTP request forwards it over the mesh and streams
 * the response back to its client.
 *
 * - Request: method, URL, headers and body (read up to `maxBodyBytes`, default 1 MiB; more is refused with a
 *   413 response carrying the typed error `PayloadTooLarge`) travel in one clustered call.
 * - Response: status and headers come back with the first part of the body; the rest is pulled from the executor
 *   in chunks of at most `chunkBytes` (64 KiB), one chunk per round trip, so neither side buffers more than a
 *   chunk per stream (a backpressured client stops the pulls). Streams idle for `streamIdleMs` are cancelled; at
 *   most `maxStreams` are open per executor (503 beyond).
 * - Request keys: a request carrying `X-Mesh-Request-Key` is identified by it (1 to 128 characters of
 *   `[A-Za-z0-9._:-]`); otherwise a key is generated. The response always carries `X-Mesh-Request-Key`, and
 *   `X-Mesh-Peer` (the peer that ran the handler). A retried request with the same key (same method, URL and
 *   body) is answered from the executor's table of responses (`X-Mesh-Replayed: 1`) without running the handler
 *   again, for responses of up to `maxStoredBytes` (256 KiB); a retry while the first is still running waits for
 *   it. The same key with another request is refused with 409. If the executor is lost before the response
 *   head left it, the request is retried on the key's next owner within `timeoutMs`.
 *
 * Runtime-neutral (browsers and Node): uses only `Request`, `Response`, `Headers` and `ReadableStream`.
 */
import type { Clock, Timer } from '../clock/clock.js';
import { systemClock } from '../clock/clock.js';
import { isMeshError, meshError, type MeshError, type MeshErrorCode } from '../errors.js';
import { cryptoRandom, randomId, type Random } from '../random.js';
import { DedupeTable, type ClusteredContext, type ClusteredFunction, type ClusteredMesh } from '../actors/clustered.js';
import { payloadHash } from '../actors/host.js';

/** A fetch-style handler. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** The mesh a clustered handler runs on (a `Mesh`). */
export interface ClusteredHandlerMesh extends ClusteredMesh {
  readonly peerId: string;
  /** @internal */
  _clusteredRegistry(): { onClose(fn: () => void): () => void };
}

/** Options of {@link clusteredHandler}. */
export interface ClusteredHandlerOptions {
  /** The mesh of this peer. */
  readonly mesh: ClusteredHandlerMesh;
  /** Only peers serving this capability run the handler. */
  readonly capability: string;
  /** The routing key of a request: it runs on the owner of this key's shard. */
  readonly key: (request: Request) => string | Promise<string>;
  /** Registered name, the same on every peer (default `'http'`); one name per handler. */
  readonly name?: string;
  /** Largest request body accepted (default 1 MiB); more gets a 413. */
  readonly maxBodyBytes?: number;
  /** Largest response kept for retries with the same request key (default 256 KiB). */
  readonly maxStoredBytes?: number;
  /** Responses kept for retries per executor (default 1024, for 10 minutes). */
  readonly maxStoredResponses?: number;
  /** How long the response head may take, retries included (default 30,000 ms); each body chunk as long. */
  readonly timeoutMs?: number;
  /** Largest body chunk per round trip (default 64 KiB). */
  readonly chunkBytes?: number;
  /** A response stream nobody pulled from for this long is cancelled (default 30,000 ms). */
  readonly streamIdleMs?: number;
  /** Response streams open at once on this peer as executor (default 256). */
  readonly maxStreams?: number;
  /** Time source (default: the system clock; give the mesh's clock in simulations). */
  readonly clock?: Clock;
  /** Randomness for generated request keys (default: `crypto.getRandomValues`). */
  readonly random?: Random;
}

/** A wrapped handler: call it with a `Request` on any peer. */
export interface ClusteredHandler {
  (request: Request): Promise<Response>;
  /** The registered name. */
  readonly handlerName: string;
  /** Stops serving requests on this peer (it still forwards them to the peers that serve). */
  unregister(): void;
  /** This peer as executor: response streams open, responses kept for retries. */
  stats(): { openStreams: number; storedResponses: number };
}

/** The request as it travels: method, URL, headers, body. */
type WireRequest = { m: string; u: string; h: Array<[string, string]>; b: Uint8Array | null };
/** The response head: status, status text, headers, first body part, stream id (null: complete), replayed. */
type WireHead = { s: number; t: string; h: Array<[string, string]>; b: Uint8Array; st: string | null; r: boolean };
/** One pulled chunk. */
type WireChunk = { b: Uint8Array; d: boolean };
/** A stored response, or the reason a key cannot be answered again. */
type Stored = { s: number; t: string; h: Array<[string, string]>; b: Uint8Array } | { gone: string };

/** Header carrying the request key (in requests from clients, and in every response). */
export const REQUEST_KEY_HEADER = 'x-mesh-request-key';
/** Response header naming the peer that ran the handler (also set on the request the handler sees). */
export const PEER_HEADER = 'x-mesh-peer';
/** Response header set to `1` when the response came from the table of responses (the handler did not run). */
export const REPLAYED_HEADER = 'x-mesh-replayed';

/** Most bytes of responses one handler keeps for retries, all keys together. */
const MAX_STORED_TOTAL_BYTES = 64 * 1024 * 1024;
const KEY_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'content-length']);
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

interface OpenStream {
  readonly id: string;
  readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  /** A read started but not consumed yet (left by a pull that stopped waiting). */
  pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  /** Bytes read beyond the last chunk sent. */
  rest: Uint8Array | undefined;
  /** The response's parts, kept while they fit `maxStoredBytes` (undefined once they do not). */
  kept: Uint8Array[] | undefined;
  keptBytes: number;
  readonly head: { s: number; t: string; h: Array<[string, string]> };
  lastPull: number;
  readonly finish: (stored: Stored) => void;
  busy: boolean;
}

/**
 * Wraps `handler` so each request runs on the owner of `key(request)` among the peers serving `capability`
 * (see the module comment). Register it on every peer that should serve (browser tabs included); call the
 * returned handler where HTTP requests arrive (e.g. an edge server: `toNodeListener`, or a Hono route).
 */
export function clusteredHandler(handler: FetchHandler, options: ClusteredHandlerOptions): ClusteredHandler {
  if (typeof handler !== 'function') throw meshError('InvalidArgument', 'clusteredHandler: handler must be a function');
  const { mesh, capability } = options;
  if (typeof options.key !== 'function') throw meshError('InvalidArgument', 'clusteredHandler: options.key must be a function');
  const name = options.name ?? 'http';
  const maxBodyBytes = positiveInt('maxBodyBytes', options.maxBodyBytes, 1024 * 1024);
  const maxStoredBytes = positiveInt('maxStoredBytes', options.maxStoredBytes, 256 * 1024, true);
  const maxStoredResponses = positiveInt('maxStoredResponses', options.maxStoredResponses, 1024);
  const timeoutMs = positiveInt('timeoutMs', options.timeoutMs, 30_000);
  const chunkBytes = positiveInt('chunkBytes', options.chunkBytes, 64 * 1024);
  const streamIdleMs = positiveInt('streamIdleMs', options.streamIdleMs, 30_000);
  const maxStreams = positiveInt('maxStreams', options.maxStreams, 256);
  const clock = options.clock ?? systemClock;
  const random = options.random ?? cryptoRandom;

  const responses = new DedupeTable<Stored>(clock, {
    maxEntries: maxStoredResponses,
    maxBytes: Math.min(MAX_STORED_TOTAL_BYTES, maxStoredResponses * Math.max(1, maxStoredBytes)),
    ttlMs: 10 * 60_000,
  });
  const streams = new Map<string, OpenStream>();
  let sweeper: Timer | undefined;
  let streamSeq = 0;

  const sweep = (): void => {
    const now = clock.now();
    for (const s of streams.values()) {
      if (!s.busy && now - s.lastPull > streamIdleMs) closeStream(s, 'the client stopped reading');
    }
    if (streams.size === 0) {
      sweeper?.cancel();
      sweeper = undefined;
    }
  };

  const closeStream = (s: OpenStream, why: string): void => {
    streams.delete(s.id);
    s.reader.cancel(why).catch(() => {});
    s.finish({ gone: `the response was not read to its end (${why})` });
  };

  /** Reads up to `chunkBytes` from an open stream: waits for the first part, then takes what is ready at once. */
  const readChunk = async (s: OpenStream): Promise<WireChunk> => {
    const parts: Uint8Array[] = [];
    let size = 0;
    let done = false;
    const take = (bytes: Uint8Array): void => {
      const room = chunkBytes - size;
      if (bytes.byteLength > room) {
        parts.push(bytes.subarray(0, room));
        s.rest = bytes.subarray(room);
        size += room;
      } else {
        parts.push(bytes);
        size += bytes.byteLength;
      }
    };
    if (s.rest !== undefined) {
      const rest = s.rest;
      s.rest = undefined;
      take(rest);
    }
    while (size < chunkBytes && s.rest === undefined) {
      const read = (s.pending ??= s.reader.read());
      const r = parts.length === 0 ? await read : await raceReady(read, clock);
      if (r === undefined) break; // nothing more ready now: send what we have
      s.pending = undefined;
      if (r.done) {
        done = true;
        break;
      }
      if (!(r.value instanceof Uint8Array)) throw meshError('InvalidArgument', 'response body chunks must be Uint8Array');
      take(r.value);
    }
    const b = concat(parts, size);
    if (s.kept !== undefined) {
      if (s.keptBytes + b.byteLength <= maxStoredBytes) {
        s.kept.push(b);
        s.keptBytes += b.byteLength;
      } else s.kept = undefined;
    }
    if (done && s.rest === undefined) {
      streams.delete(s.id);
      s.finish(s.kept === undefined ? { gone: `the response was larger than ${maxStoredBytes} bytes` } : { ...s.head, b: concat(s.kept, s.keptBytes) });
      return { b, d: true };
    }
    return { b, d: false };
  };

  /** Runs on the executor: the handler, or the stored response of a retried key. */
  const serve = async function (this: ClusteredContext, wire: WireRequest, _placement: string): Promise<WireHead> {
    const key = this.idempotencyKey;
    const hash = payloadHash(wire.m, [wire.u, wire.b]);
    const seen = responses.peek(key);
    if (seen !== undefined) {
      if (seen.hash !== hash) return errorHead(409, 'Conflict', `request key ${key} was used for another request`);
      const stored = seen.state === 'done' ? seen.value : await seen.promise.catch((e: unknown) => ({ gone: `the first request failed: ${String(e)}` }));
      if ('gone' in stored) return errorHead(409, 'Conflict', `request key ${key} was used already and its response cannot be sent again: ${stored.gone}`);
      return { ...stored, st: null, r: true };
    }
    const run = responses.begin(key, hash);
    let response: Response;
    try {
      const headers = new Headers();
      for (const [k, v] of wire.h) headers.append(k, v);
      headers.set(REQUEST_KEY_HEADER, key);
      headers.set(PEER_HEADER, mesh.peerId);
      const body = wire.b === null || wire.m === 'GET' || wire.m === 'HEAD' ? null : toArrayBuffer(wire.b);
      response = await handler(new Request(wire.u, { method: wire.m, headers, body, signal: this.signal }));
      if (!(response instanceof Response)) throw new TypeError('the handler did not return a Response');
    } catch (error) {
      run.reject(error);
      return errorHead(500, 'HandlerFailed', `the handler threw: ${error instanceof Error ? error.message : String(error)}`);
    }
    const head = { s: response.status, t: response.statusText, h: headerList(response.headers) };
    if (response.body === null) {
      run.resolve({ ...head, b: new Uint8Array(0) }, 0);
      return { ...head, b: new Uint8Array(0), st: null, r: false };
    }
    if (streams.size >= maxStreams) {
      response.body.cancel().catch(() => {});
      run.reject(new Error('too many streams'));
      return errorHead(503, 'MailboxFull', `peer ${mesh.peerId} has ${maxStreams} response streams open`);
    }
    const s: OpenStream = {
      id: `${++streamSeq}.${randomId(random, 8)}`,
      reader: response.body.getReader(),
      pending: undefined,
      rest: undefined,
      kept: [],
      keptBytes: 0,
      head,
      lastPull: clock.now(),
      finish: (stored) => run.resolve(stored, 'gone' in stored ? 0 : stored.b.byteLength + 256),
      busy: true,
    };
    streams.set(s.id, s);
    sweeper ??= clock.setInterval(sweep, Math.max(100, Math.floor(streamIdleMs / 2)));
    // A body that produces nothing before the caller's deadline: give up on it (the caller has).
    const onDeadline = (): void => closeStream(s, 'the response head passed its deadline');
    this.signal.addEventListener('abort', onDeadline, { once: true });
    try {
      const first = await readChunk(s);
      return { ...head, b: first.b, st: first.d ? null : s.id, r: false };
    } catch (error) {
      closeStream(s, 'the body failed');
      return errorHead(500, 'HandlerFailed', `the response body failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      this.signal.removeEventListener('abort', onDeadline);
      s.busy = false;
      s.lastPull = clock.now();
    }
  };

  /** Runs on the executor: the next chunk of an open stream (or, with `cancel`, closes it). */
  const pull = async function (this: ClusteredContext, id: string, cancel: boolean): Promise<WireChunk> {
    const s = streams.get(id);
    if (s === undefined) throw meshError('InvalidArgument', `response stream ${id} is not open on peer ${mesh.peerId} (finished, cancelled or idle too long)`);
    if (cancel) {
      closeStream(s, 'the client cancelled');
      return { b: new Uint8Array(0), d: true };
    }
    if (s.busy) throw meshError('InvalidArgument', `response stream ${id} is being read already`);
    s.busy = true;
    const onDeadline = (): void => closeStream(s, 'a pull passed its deadline');
    this.signal.addEventListener('abort', onDeadline, { once: true });
    try {
      return await readChunk(s);
    } catch (error) {
      closeStream(s, 'the body failed');
      throw error;
    } finally {
      this.signal.removeEventListener('abort', onDeadline);
      s.busy = false;
      s.lastPull = clock.now();
    }
  };

  const call: ClusteredFunction<[WireRequest, string], Promise<WireHead>> = mesh.clustered(`${name}:request`, serve, {
    capability,
    key: (_wire, placement) => placement,
    dedupe: false,
    timeoutMs,
  });
  const pullFn: ClusteredFunction<[string, boolean], Promise<WireChunk>> = mesh.clustered(`${name}:pull`, pull, { capability, dedupe: false, timeoutMs });
  const stopOnClose = mesh._clusteredRegistry().onClose(() => {
    for (const s of [...streams.values()]) closeStream(s, 'the peer is closing');
    sweeper?.cancel();
    sweeper = undefined;
  });

  const wrapped = async (request: Request): Promise<Response> => {
    const given = request.headers.get(REQUEST_KEY_HEADER);
    if (given !== null && !KEY_RE.test(given)) {
      return errorResponse(400, 'InvalidArgument', `${REQUEST_KEY_HEADER} must be 1 to 128 characters of [A-Za-z0-9._:-]`, undefined);
    }
    const key = given ?? randomId(random, 20);
    let placement: string;
    try {
      placement = await options.key(request);
      if (typeof placement !== 'string' || placement.length === 0) throw new TypeError('key() must return a non-empty string');
    } catch (error) {
      return errorResponse(400, 'InvalidArgument', `cannot route the request: ${error instanceof Error ? error.message : String(error)}`, key);
    }
    let body: Uint8Array | null = null;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      const read = await readBody(request, maxBodyBytes);
      if ('error' in read) return errorResponse(413, 'PayloadTooLarge', read.error, key);
      body = read.body;
    }
    const wire: WireRequest = { m: request.method, u: request.url, h: headerList(request.headers), b: body };
    let head: WireHead;
    let executor: string;
    try {
      const r = await call.invoke([wire, placement], { idempotencyKey: key, signal: request.signal });
      head = r.result;
      executor = r.peerId;
    } catch (error) {
      const e = isMeshError(error) ? error : meshError('HandlerFailed', String(error));
      return errorResponse(statusFor(e), e.code, e.message, key);
    }
    const headers = new Headers();
    for (const [k, v] of head.h) if (!HOP_BY_HOP.has(k.toLowerCase())) headers.append(k, v);
    headers.set(REQUEST_KEY_HEADER, key);
    headers.set(PEER_HEADER, executor);
    if (head.r) headers.set(REPLAYED_HEADER, '1');
    const init = { status: head.s, statusText: head.t, headers };
    if (NULL_BODY.has(head.s) || request.method === 'HEAD') {
      if (head.st !== null) void pullFn.invoke([head.st, true], { peer: executor }).catch(() => {});
      return new Response(null, init);
    }
    if (head.st === null) return new Response(toArrayBuffer(head.b), init);
    const streamId = head.st;
    let first: Uint8Array | undefined = head.b;
    let finished = false;
    const stream = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          if (first !== undefined) {
            const b = first;
            first = undefined;
            if (b.byteLength > 0) {
              controller.enqueue(b);
              return;
            }
          }
          try {
            const chunk = (await pullFn.invoke([streamId, false], { peer: executor })).result;
            if (chunk.b.byteLength > 0) controller.enqueue(chunk.b);
            if (chunk.d) {
              finished = true;
              controller.close();
            }
          } catch (error) {
            finished = true;
            controller.error(error);
          }
        },
        cancel() {
          if (!finished) void pullFn.invoke([streamId, true], { peer: executor }).catch(() => {});
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(stream, init);
  };

  return Object.defineProperties(wrapped, {
    handlerName: { value: name, enumerable: true },
    unregister: {
      value: () => {
        call.unregister();
        pullFn.unregister();
        stopOnClose();
      },
    },
    stats: { value: () => ({ openStreams: streams.size, storedResponses: responses.size }) },
  }) as ClusteredHandler;
}

/** Reads a request body up to `limit` bytes (the declared length is checked first). */
async function readBody(request: Request, limit: number): Promise<{ body: Uint8Array | null } | { error: string }> {
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) return { error: `the request body is ${declared} bytes; the limit is ${limit}` };
  if (request.body === null) return { body: null };
  const reader = request.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    size += r.value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return { error: `the request body is larger than the limit of ${limit} bytes` };
    }
    parts.push(r.value);
  }
  return { body: concat(parts, size) };
}

/** Waits for `read` only if it settles by the next timer tick (what is ready now), else undefined. */
function raceReady<T>(read: Promise<T>, clock: Clock): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve, reject) => {
    const timer = clock.setTimeout(() => resolve(undefined), 0);
    read.then(
      (v) => {
        timer.cancel();
        resolve(v);
      },
      (e: unknown) => {
        timer.cancel();
        reject(e);
      },
    );
  });
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer ? b.buffer : (b.slice().buffer as ArrayBuffer);
}

function headerList(headers: Headers): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  headers.forEach((v, k) => {
    if (k !== 'set-cookie') out.push([k, v]);
  });
  const cookies = (headers as Headers & { getSetCookie?: () => string[] }).getSetCookie?.() ?? [];
  for (const c of cookies) out.push(['set-cookie', c]);
  return out;
}

function errorHead(status: number, code: MeshErrorCode, message: string): WireHead {
  const body = new TextEncoder().encode(JSON.stringify({ error: { code, message } }));
  return { s: status, t: '', h: [['content-type', 'application/json']], b: body, st: null, r: false };
}

function errorResponse(status: number, code: MeshErrorCode, message: string, key: string | undefined): Response {
  const headers = new Headers({ 'content-type': 'application/json' });
  if (key !== undefined) headers.set(REQUEST_KEY_HEADER, key);
  return new Response(JSON.stringify({ error: { code, message } }), { status, headers });
}

/** The HTTP status a routing failure answers with. */
function statusFor(e: MeshError): number {
  switch (e.code) {
    case 'InvalidArgument':
      return 400;
    case 'Conflict':
      return 409;
    case 'PayloadTooLarge':
    case 'MessageTooLarge':
      return 413;
    case 'Timeout':
      return 504;
    case 'NoPeersForCapability':
    case 'UnknownFunction':
    case 'MailboxFull':
    case 'Closed':
      return 503;
    default:
      return 502;
  }
}

function positiveInt(name: string, v: number | undefined, d: number, zeroOk = false): number {
  const value = v ?? d;
  if (!Number.isSafeInteger(value) || value < (zeroOk ? 0 : 1)) throw meshError('InvalidArgument', `clusteredHandler: ${name} must be an integer >= ${zeroOk ? 0 : 1}`);
  return value;
}
