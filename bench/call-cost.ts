/**
 * Diagnostic: CPU time per remote call, caller and owner in one process (so one number covers both sides), 256
 * calls in flight, 100-byte payloads. Three transports between the two meshes:
 *   - `loop`: frames handed over once per macrotask (the mesh alone: routing, codec, mailbox, replies);
 *   - `fake`: `WebRtcTransport` on an in-memory engine (adds the transport's framing, all JavaScript);
 *   - `node-datachannel` / `werift`: `WebRtcTransport` on a real engine over loopback (adds the engine's work,
 *     native threads included).
 * Usage: `tsx bench/call-cost.ts [loop|fake|node-datachannel|werift]` (default: loop and fake). For figures
 * without tsx's per-closure overhead, compile first (as `bench/net.ts` does) and run the emitted JavaScript.
 * Prints the median of 7 one-second windows after a warm-up.
 */
import { Mesh, defineActor } from '../src/api.js';
import { resolveParts } from '../src/create.js';
import { MemorySignalingHub } from '../src/signaling/memory.js';
import type { RtcEngine } from '../src/transport/engines/types.js';
import type { Transport, TransportHandlers } from '../src/transport/types.js';
import { WebRtcTransport } from '../src/transport/webrtc.js';
import { createSignalRelay } from '../src/transport/webrtc-testkit.js';

/** Frames delivered in one batch per macrotask, copied (as a channel would). */
class LoopTransport implements Transport {
  readonly maxFrameSize = 1 << 24;
  peer: LoopTransport | undefined;
  #handlers: TransportHandlers | undefined;
  #out: Uint8Array[] = [];
  #scheduled = false;

  constructor(readonly localPeerId: string) {}

  setHandlers(handlers: TransportHandlers): void {
    this.#handlers = handlers;
  }

  send(_peerId: string, frame: Uint8Array): Promise<void> {
    this.#out.push(frame.slice());
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        const out = this.#out;
        this.#out = [];
        for (const f of out) this.peer?.deliver(this.localPeerId, f);
      });
    }
    return Promise.resolve();
  }

  deliver(from: string, frame: Uint8Array): void {
    this.#handlers?.onFrame(from, frame);
  }

  disconnect(): void {}

  async close(): Promise<void> {}
}

type EventListener = (event: never) => void;

/** Just enough of an event target for the fake engine. */
class Events {
  readonly #listeners = new Map<string, EventListener[]>();

  addEventListener(type: string, listener: EventListener): void {
    const list = this.#listeners.get(type) ?? [];
    list.push(listener);
    this.#listeners.set(type, list);
  }

  emit(type: string, event: unknown): void {
    for (const l of this.#listeners.get(type) ?? []) l(event as never);
  }
}

/** An in-memory data channel: messages are copied and delivered once per macrotask. */
class FakeChannel extends Events {
  readyState = 'connecting';
  bufferedAmount = 0;
  bufferedAmountLowThreshold = 0;
  binaryType = 'arraybuffer';
  peer: FakeChannel | undefined;
  #out: Uint8Array[] = [];
  #scheduled = false;

  send(data: Uint8Array): void {
    this.#out.push(data.slice());
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      const out = this.#out;
      this.#out = [];
      for (const d of out) this.peer?.emit('message', { data: d.buffer });
    });
  }

  close(): void {
    this.readyState = 'closed';
  }
}

const connections = new Map<string, FakeConnection>();
let connectionIds = 0;

/** An in-memory peer connection: the SDP is its id; both sides' channels open once both descriptions are set. */
class FakeConnection extends Events {
  readonly id = `fake-${++connectionIds}`;
  localDescription: { type: string; sdp: string } | null = null;
  readonly channel = new FakeChannel();
  #remote: FakeConnection | undefined;

  constructor() {
    super();
    connections.set(this.id, this);
  }

  createDataChannel(): FakeChannel {
    return this.channel;
  }

  async createOffer(): Promise<{ type: string; sdp: string }> {
    return { type: 'offer', sdp: this.id };
  }

  async createAnswer(): Promise<{ type: string; sdp: string }> {
    return { type: 'answer', sdp: this.id };
  }

  async setLocalDescription(d?: { type: string }): Promise<void> {
    this.localDescription = { type: d?.type ?? 'offer', sdp: this.id };
    setImmediate(() => this.emit('icecandidate', { candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 } }));
    this.#maybeOpen();
  }

  async setRemoteDescription(d: { sdp: string }): Promise<void> {
    this.#remote = connections.get(d.sdp);
    this.#maybeOpen();
  }

  async addIceCandidate(): Promise<void> {}

  close(): void {
    this.channel.close();
  }

  #maybeOpen(): void {
    const remote = this.#remote;
    if (remote === undefined || remote.#remote !== this || this.localDescription === null || remote.localDescription === null) return;
    this.channel.peer = remote.channel;
    remote.channel.peer = this.channel;
    for (const ch of [this.channel, remote.channel]) {
      ch.readyState = 'open';
      setImmediate(() => ch.emit('open', {}));
    }
  }
}

const fakeEngine: RtcEngine = { name: 'fake', RTCPeerConnection: FakeConnection as never };

async function engineNamed(name: string): Promise<RtcEngine> {
  if (name === 'fake') return fakeEngine;
  if (name === 'werift') return (await import('../src/transport/engines/werift.js')).weriftEngine();
  return (await import('../src/transport/engines/node-datachannel.js')).nodeDatachannelEngine();
}

const Echo = defineActor({ type: 'echo', initialState: () => ({}), handlers: { echo: (_s, p: Uint8Array) => p } });
const PAYLOAD = new Uint8Array(100).fill(7);

async function measure(mode: string): Promise<void> {
  const keepAlive = setInterval(() => {}, 1000); // the clock's timers are unref'd
  const hub = new MemorySignalingHub({ livenessMs: 100_000 });
  let transports: [Transport, Transport];
  let engine: RtcEngine | undefined;
  if (mode === 'loop') {
    const a = new LoopTransport('client');
    const b = new LoopTransport('server');
    a.peer = b;
    b.peer = a;
    transports = [a, b];
  } else {
    engine = await engineNamed(mode);
    const relay = createSignalRelay();
    const make = (id: string): WebRtcTransport => {
      const t = new WebRtcTransport({ localPeerId: id, signal: relay.signalFor(id), rtc: engine!, loopbackOnly: true });
      relay.attach(id, t);
      return t;
    };
    transports = [make('client'), make('server')];
  }
  const server = await Mesh.start(resolveParts({ peerId: 'server', capabilities: ['bench'], actors: [Echo], transport: transports[1], signaling: hub.client('r') }));
  const client = await Mesh.start(resolveParts({ peerId: 'client', capabilities: [], transport: transports[0], signaling: hub.client('r'), defaultTimeoutMs: 30_000 }));
  while (client.table.peersFor('bench').length === 0) await new Promise((r) => setTimeout(r, 5));
  let k = 0;
  const call = () => client.call({ capability: 'bench', type: 'echo', id: `e${k++ % 64}`, payload: { op: 'echo', arg: PAYLOAD } });
  const window = async (ms: number): Promise<{ rate: number; us: number }> => {
    let stop = false;
    let count = 0;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    setTimeout(() => (stop = true), ms);
    await Promise.all(
      Array.from({ length: 256 }, async () => {
        while (!stop) {
          await call();
          count++;
        }
      }),
    );
    const cpu = process.cpuUsage(cpu0);
    return { rate: count / ((performance.now() - t0) / 1000), us: (cpu.user + cpu.system) / count };
  };
  await window(1000);
  const runs: Array<{ rate: number; us: number }> = [];
  for (let i = 0; i < 7; i++) runs.push(await window(1000));
  runs.sort((x, y) => x.us - y.us);
  const mid = runs[3]!;
  console.log(`${mode.padEnd(16)} ${mid.us.toFixed(2)} us CPU per call (both sides), ${Math.round(mid.rate).toLocaleString('en-US')} calls/s`);
  await client.close();
  await server.close();
  hub.close();
  await engine?.shutdown?.();
  clearInterval(keepAlive);
}

const modes = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const mode of modes.length > 0 ? modes : ['loop', 'fake']) await measure(mode);
process.exit(0);
