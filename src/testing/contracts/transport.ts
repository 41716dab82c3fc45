/**
 * The transport contract suite: every {@link Transport} implementation must pass it (MemoryTransport,
 * WebRtcTransport on each engine). It only uses the `Transport` interface and what the factory returns.
 *
 * ```ts
 * transportContract('MemoryTransport', async () => {
 *   const net = new MemoryNetwork();
 *   return { transports: ['a', 'b', 'c'].map((id) => net.createTransport(id)), close: async () => {} };
 * });
 * ```
 *
 * Memory check of the burst test: after each awaited send, the bytes that `send` accepted but the receiver has
 * not seen yet ("in flight") must stay below `maxInFlightBytes` (default 32 MiB, well below the 100 MiB sent).
 * An implementation that resolves sends before it has room for them (unbounded buffering) fails it. Process
 * memory is reported too, but not asserted (garbage collection timing makes it noisy).
 */
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../clock/clock.js';
import { isMeshError } from '../../errors.js';
import type { PeerDownReason, Transport } from '../../transport/types.js';

/** What a contract factory returns: three transports with distinct ids, connected or connectable. */
export interface TransportContractNetwork {
  transports: Transport[];
  close(): Promise<void>;
}

/** Tunables of {@link transportContract}; the defaults are the contract. */
export interface TransportContractOptions {
  /** Timeout of each test in ms (default 180 000). */
  timeoutMs?: number;
  /** Total bytes of the burst test (default 100 MiB). */
  burstBytes?: number;
  /** Frame size of the burst test (default 64 KiB). */
  burstFrameSize?: number;
  /** Largest accepted in-flight byte count during the burst (default 32 MiB). */
  maxInFlightBytes?: number;
  /** A send to an unknown peer must reject within this many ms (default 90 000). */
  unreachableWithinMs?: number;
  /** Time allowed for delivery and peer events in ms (default 30 000). */
  eventuallyMs?: number;
  /** Print burst throughput and memory figures (default false). */
  report?: boolean;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** Registers the contract tests for one implementation under `describe(name)`. */
export function transportContract(
  name: string,
  factory: () => Promise<TransportContractNetwork>,
  options: TransportContractOptions = {},
): void {
  const timeout = options.timeoutMs ?? 180_000;
  const eventually = options.eventuallyMs ?? 30_000;
  const burstBytes = options.burstBytes ?? 100 * MiB;
  const burstFrame = options.burstFrameSize ?? 64 * KiB;
  const maxInFlight = options.maxInFlightBytes ?? 32 * MiB;
  const unreachableWithin = options.unreachableWithinMs ?? 90_000;

  const withNetwork = (fn: (ts: Transport[], probes: Probe[]) => Promise<void>) => async () => {
    const net = await factory();
    try {
      expect(net.transports.length).toBeGreaterThanOrEqual(3);
      const ids = new Set(net.transports.map((t) => t.localPeerId));
      expect(ids.size).toBe(net.transports.length);
      const probes = net.transports.map((t) => new Probe(t));
      await fn(net.transports, probes);
    } finally {
      await net.close();
    }
  };

  describe(`Transport contract: ${name}`, () => {
    it(
      'delivers frames in order and byte-exact between every pair, in both directions',
      withNetwork(async (ts, probes) => {
        const perPair = 40;
        const expected = new Map<string, Uint8Array[]>();
        const sends: Promise<void>[] = [];
        for (let k = 0; k < perPair; k++) {
          for (let i = 0; i < 3; i++) {
            for (let j = 0; j < 3; j++) {
              if (i === j) continue;
              const from = ts[i]!;
              const to = ts[j]!;
              const size = k === 0 ? 0 : (k * 977 + i * 131 + j * 17) % 5000;
              const frame = patterned(size, (i * 3 + j) * 100_000 + k);
              const key = `${from.localPeerId}>${to.localPeerId}`;
              let list = expected.get(key);
              if (list === undefined) expected.set(key, (list = []));
              list.push(frame.slice());
              sends.push(from.send(to.localPeerId, frame));
            }
          }
        }
        await Promise.all(sends);
        for (let j = 0; j < 3; j++) {
          for (let i = 0; i < 3; i++) {
            if (i === j) continue;
            const from = ts[i]!.localPeerId;
            const want = expected.get(`${from}>${ts[j]!.localPeerId}`)!;
            await probes[j]!.waitFrames(from, want.length, eventually);
            const got = probes[j]!.frames(from);
            expect(got.length).toBe(want.length);
            for (let k = 0; k < want.length; k++) {
              if (!equalBytes(got[k]!, want[k]!)) throw new Error(`frame ${k} from ${from} to ${ts[j]!.localPeerId} differs`);
            }
          }
        }
      }),
      timeout,
    );

    it(
      'connects lazily: nothing happens before the first send, which then connects and delivers',
      withNetwork(async (ts, probes) => {
        const [a, b] = [ts[0]!, ts[1]!];
        await sleep(200);
        for (const p of probes) {
          expect(p.ups).toEqual([]);
          expect(p.totalFrames()).toBe(0);
        }
        await a.send(b.localPeerId, bytes([1, 2, 3]));
        await probes[1]!.waitFrames(a.localPeerId, 1, eventually);
        expect([...probes[1]!.frames(a.localPeerId)[0]!]).toEqual([1, 2, 3]);
        await waitFor(() => probes[0]!.ups.includes(b.localPeerId) && probes[1]!.ups.includes(a.localPeerId), eventually, 'onPeerUp on both sides');
        expect(probes[2]!.ups).toEqual([]);
      }),
      timeout,
    );

    it(
      'delivers 1 KiB, 64 KiB, 1 MiB and 16 MiB frames intact',
      withNetwork(async (ts, probes) => {
        const [a, b] = [ts[0]!, ts[1]!];
        expect(a.maxFrameSize).toBeGreaterThanOrEqual(16 * MiB);
        const sizes = [1 * KiB, 64 * KiB, 1 * MiB, 16 * MiB];
        const sends = sizes.map((size, i) => a.send(b.localPeerId, patterned(size, 7000 + i)));
        // And the other way round at the same time.
        const back = b.send(a.localPeerId, patterned(1 * MiB, 9000));
        await Promise.all([...sends, back]);
        await probes[1]!.waitFrames(a.localPeerId, sizes.length, eventually * 4);
        const got = probes[1]!.frames(a.localPeerId);
        sizes.forEach((size, i) => {
          expect(got[i]!.byteLength).toBe(size);
          expect(checkPattern(got[i]!, 7000 + i)).toBe(true);
        });
        await probes[0]!.waitFrames(b.localPeerId, 1, eventually * 4);
        expect(checkPattern(probes[0]!.frames(b.localPeerId)[0]!, 9000)).toBe(true);
      }),
      timeout,
    );

    it(
      'refuses a frame above maxFrameSize with MessageTooLarge and keeps the link usable',
      withNetwork(async (ts, probes) => {
        const [a, b, c] = [ts[0]!, ts[1]!, ts[2]!];
        // On a link that was never used: refused without connecting.
        await expectCode(a.send(c.localPeerId, new Uint8Array(a.maxFrameSize + 1)), ['MessageTooLarge']);
        await a.send(b.localPeerId, bytes([1]));
        await expectCode(a.send(b.localPeerId, new Uint8Array(a.maxFrameSize + 1)), ['MessageTooLarge']);
        await a.send(b.localPeerId, bytes([2]));
        await b.send(a.localPeerId, bytes([3]));
        await probes[1]!.waitFrames(a.localPeerId, 2, eventually);
        expect(probes[1]!.frames(a.localPeerId).map((f) => [...f])).toEqual([[1], [2]]);
        await probes[0]!.waitFrames(b.localPeerId, 1, eventually);
        expect(probes[0]!.downs).toEqual([]);
        expect(probes[1]!.downs).toEqual([]);
      }),
      timeout,
    );

    it(
      `streams a ${Math.round(burstBytes / MiB)} MiB burst with backpressure, completely, in order, with bounded memory`,
      withNetwork(async (ts, probes) => {
        const [a, b] = [ts[0]!, ts[1]!];
        const count = Math.ceil(burstBytes / burstFrame);
        let received = 0;
        let receivedBytes = 0;
        let failure: string | undefined;
        probes[1]!.onFrame = (from, frame) => {
          if (from !== a.localPeerId) return false;
          if (failure === undefined && (frame.byteLength !== burstFrame || !checkPattern(frame, received))) {
            failure = `burst frame ${received} is wrong (${frame.byteLength} bytes)`;
          }
          received++;
          receivedBytes += frame.byteLength;
          return true;
        };
        const mem0 = memory();
        let memPeak = mem0;
        let maxInFlightSeen = 0;
        let sentBytes = 0;
        const t0 = performance.now();
        for (let i = 0; i < count; i++) {
          await a.send(b.localPeerId, patterned(burstFrame, i));
          sentBytes += burstFrame;
          maxInFlightSeen = Math.max(maxInFlightSeen, sentBytes - receivedBytes);
          if (i % 64 === 0) memPeak = Math.max(memPeak, memory());
        }
        await waitFor(() => received >= count || failure !== undefined, eventually * 4, `all ${count} burst frames`);
        const seconds = (performance.now() - t0) / 1000;
        memPeak = Math.max(memPeak, memory());
        if (options.report === true) {
          console.info(
            `[${name}] burst: ${count} x ${burstFrame} B in ${seconds.toFixed(1)} s = ${(burstBytes / MiB / seconds).toFixed(1)} MiB/s, ` +
              `${Math.round(count / seconds)} frames/s; max in flight ${(maxInFlightSeen / MiB).toFixed(1)} MiB; ` +
              `heap+buffers growth ${((memPeak - mem0) / MiB).toFixed(0)} MiB`,
          );
        }
        expect(failure).toBeUndefined();
        expect(received).toBe(count);
        expect(maxInFlightSeen).toBeLessThanOrEqual(maxInFlight);
        expect(probes[0]!.downs).toEqual([]);
        expect(probes[1]!.downs).toEqual([]);
      }),
      timeout,
    );

    it(
      'delivers many tiny frames sent in one tick, in order (coalescing)',
      withNetwork(async (ts, probes) => {
        const [a, b, c] = [ts[0]!, ts[1]!, ts[2]!];
        const n = 10_000;
        const sends: Promise<void>[] = [];
        for (let i = 0; i < n; i++) {
          sends.push(a.send(b.localPeerId, tiny(i, 1)));
          sends.push(c.send(b.localPeerId, tiny(i, 2)));
        }
        await Promise.all(sends);
        await probes[1]!.waitFrames(a.localPeerId, n, eventually);
        await probes[1]!.waitFrames(c.localPeerId, n, eventually);
        for (const [from, salt] of [
          [a.localPeerId, 1],
          [c.localPeerId, 2],
        ] as const) {
          const got = probes[1]!.frames(from);
          expect(got.length).toBe(n);
          for (let i = 0; i < n; i++) {
            if (!equalBytes(got[i]!, tiny(i, salt))) throw new Error(`tiny frame ${i} from ${from} is wrong or out of order`);
          }
        }
      }),
      timeout,
    );

    it(
      'rejects a send to an unknown peer with PeerUnavailable or ConnectionFailed, in bounded time',
      withNetwork(async (ts) => {
        const a = ts[0]!;
        const t0 = performance.now();
        // One id sorting before and one after every real id, so both connection roles are exercised.
        const results = await Promise.allSettled([
          a.send('!unknown-peer', bytes([1])),
          a.send('~unknown-peer', bytes([1])),
        ]);
        const elapsed = performance.now() - t0;
        for (const r of results) {
          expect(r.status).toBe('rejected');
          const reason = (r as PromiseRejectedResult).reason as unknown;
          expect(isMeshError(reason) && ['PeerUnavailable', 'ConnectionFailed'].includes(reason.code)).toBe(true);
        }
        expect(elapsed).toBeLessThan(unreachableWithin);
        // The transport still works for known peers.
        await a.send(ts[1]!.localPeerId, bytes([9]));
      }),
      Math.max(timeout, unreachableWithin + 30_000),
    );

    it(
      'disconnect() reports the peer down on both sides and the next send connects again',
      withNetwork(async (ts, probes) => {
        const [a, b] = [ts[0]!, ts[1]!];
        await a.send(b.localPeerId, bytes([1]));
        await probes[1]!.waitFrames(a.localPeerId, 1, eventually);
        await waitFor(() => probes[0]!.ups.includes(b.localPeerId) && probes[1]!.ups.includes(a.localPeerId), eventually, 'link up');
        a.disconnect(b.localPeerId);
        await waitFor(() => probes[0]!.downs.some((d) => d.peer === b.localPeerId), eventually, 'onPeerDown on the disconnecting side');
        expect(probes[0]!.downs.find((d) => d.peer === b.localPeerId)!.reason).toBe('local-close');
        await waitFor(() => probes[1]!.downs.some((d) => d.peer === a.localPeerId), eventually, 'onPeerDown on the other side');
        await a.send(b.localPeerId, bytes([2]));
        await b.send(a.localPeerId, bytes([3]));
        await probes[1]!.waitFrames(a.localPeerId, 2, eventually);
        await probes[0]!.waitFrames(b.localPeerId, 1, eventually);
        expect(probes[1]!.frames(a.localPeerId).map((f) => [...f])).toEqual([[1], [2]]);
        expect([...probes[0]!.frames(b.localPeerId)[0]!]).toEqual([3]);
        // The same works when the other side disconnects.
        b.disconnect(a.localPeerId);
        await waitFor(() => probes[0]!.downs.length >= 2, eventually, 'second onPeerDown');
        await a.send(b.localPeerId, bytes([4]));
        await probes[1]!.waitFrames(a.localPeerId, 3, eventually);
      }),
      timeout,
    );

    it(
      'close() makes further sends reject with Closed',
      withNetwork(async (ts, probes) => {
        const [a, b, c] = [ts[0]!, ts[1]!, ts[2]!];
        await a.send(b.localPeerId, bytes([1]));
        await probes[1]!.waitFrames(a.localPeerId, 1, eventually);
        await a.close();
        await expectCode(a.send(b.localPeerId, bytes([2])), ['Closed']);
        await expectCode(a.send(c.localPeerId, bytes([2])), ['Closed']);
        await a.close(); // idempotent
        // The others keep working with each other.
        await b.send(c.localPeerId, bytes([5]));
        await probes[2]!.waitFrames(b.localPeerId, 1, eventually);
      }),
      timeout,
    );
  });
}

/** Records what a transport reports. */
class Probe {
  readonly ups: string[] = [];
  readonly downs: { peer: string; reason: PeerDownReason }[] = [];
  readonly #frames = new Map<string, Uint8Array[]>();
  /** Optional interceptor; returning true consumes the frame (not recorded). */
  onFrame: ((from: string, frame: Uint8Array) => boolean) | undefined;

  constructor(t: Transport) {
    t.setHandlers({
      onFrame: (from, frame) => {
        if (this.onFrame?.(from, frame) === true) return;
        let list = this.#frames.get(from);
        if (list === undefined) this.#frames.set(from, (list = []));
        list.push(frame.slice()); // the buffer may be reused after the call
      },
      onPeerUp: (peer) => this.ups.push(peer),
      onPeerDown: (peer, reason) => this.downs.push({ peer, reason }),
    });
  }

  frames(from: string): Uint8Array[] {
    return this.#frames.get(from) ?? [];
  }

  totalFrames(): number {
    let n = 0;
    for (const l of this.#frames.values()) n += l.length;
    return n;
  }

  waitFrames(from: string, n: number, timeoutMs: number): Promise<void> {
    return waitFor(() => this.frames(from).length >= n, timeoutMs, `${n} frame(s) from ${from} (have ${this.frames(from).length})`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => systemClock.setTimeout(resolve, ms));
}

async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

async function expectCode(p: Promise<unknown>, codes: string[]): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (isMeshError(err) && codes.includes(err.code)) return;
    throw new Error(`expected a MeshError with code ${codes.join(' or ')}, got ${String(err)}`, { cause: err });
  }
  throw new Error(`expected a rejection with code ${codes.join(' or ')}, but the promise resolved`);
}

function bytes(values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

/** A frame of `size` bytes whose content is a function of `seed` (see {@link checkPattern}). */
function patterned(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  const words = size >>> 2;
  const w = new Uint32Array(out.buffer, 0, words);
  let x = (seed * 0x9e3779b1 + size) >>> 0;
  for (let i = 0; i < words; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    w[i] = x;
  }
  for (let i = words * 4; i < size; i++) out[i] = (seed + i) & 0xff;
  return out;
}

function checkPattern(frame: Uint8Array, seed: number): boolean {
  const size = frame.byteLength;
  const words = size >>> 2;
  // Received buffers may sit at any offset: read words through a DataView in little-endian (the writer's order
  // on every platform we run on).
  const view = new DataView(frame.buffer, frame.byteOffset, size);
  let x = (seed * 0x9e3779b1 + size) >>> 0;
  for (let i = 0; i < words; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    if (view.getUint32(i * 4, true) !== x) return false;
  }
  for (let i = words * 4; i < size; i++) if (frame[i] !== ((seed + i) & 0xff)) return false;
  return true;
}

function tiny(i: number, salt: number): Uint8Array {
  const len = 1 + (i % 16);
  const out = new Uint8Array(len);
  out[0] = i & 0xff;
  for (let k = 1; k < len; k++) out[k] = (i >>> 8) + k * salt;
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Heap plus array buffers, in bytes (0 where the runtime cannot tell). */
function memory(): number {
  const proc = (globalThis as { process?: { memoryUsage?: () => { heapUsed: number; arrayBuffers?: number } } }).process;
  const m = proc?.memoryUsage?.();
  return m === undefined ? 0 : m.heapUsed + (m.arrayBuffers ?? 0);
}
