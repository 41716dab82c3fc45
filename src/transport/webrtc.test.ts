/**
 * WebRtcTransport behaviour beyond the contract: glare, heartbeat timeouts, restarts, malformed signals and
 * channel data, mixed engines, backpressure bounds, and clean shutdown. Real WebRTC on 127.0.0.1.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../clock/clock.js';
import { isMeshError } from '../errors.js';
import { nodeDatachannelEngine } from './engines/node-datachannel.js';
import type { RtcEngine } from './engines/types.js';
import { WERIFT_MAX_BUFFERED_MESSAGES, weriftEngine } from './engines/werift.js';
import { FRAMING_MAGIC, RecordKind } from './framing.js';
import type { PeerDownReason, Transport } from './types.js';
import { decodePing, encodePing, WebRtcTransport } from './webrtc.js';
import { countingClock, createSignalRelay, createWebRtcCluster, freezableEngine, type WebRtcCluster } from './webrtc-testkit.js';

const engines: Record<'node-datachannel' | 'werift', RtcEngine> = {
  'node-datachannel': await nodeDatachannelEngine(),
  werift: await weriftEngine(),
};

interface Events {
  frames: Map<string, Uint8Array[]>;
  ups: string[];
  downs: { peer: string; reason: PeerDownReason; at: number }[];
}

function watch(t: Transport): Events {
  const e: Events = { frames: new Map(), ups: [], downs: [] };
  t.setHandlers({
    onFrame: (from, frame) => {
      let l = e.frames.get(from);
      if (l === undefined) e.frames.set(from, (l = []));
      l.push(frame.slice());
    },
    onPeerUp: (p) => e.ups.push(p),
    onPeerDown: (peer, reason) => e.downs.push({ peer, reason, at: performance.now() }),
  });
  return e;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => systemClock.setTimeout(r, ms));
}

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!pred()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const open: WebRtcCluster[] = [];
function cluster(...args: Parameters<typeof createWebRtcCluster>): WebRtcCluster {
  const c = createWebRtcCluster(...args);
  open.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

describe.each(Object.keys(engines) as (keyof typeof engines)[])('WebRtcTransport on %s', (engineName) => {
  const engine = engines[engineName];

  it('glare: both sides sending first at the same time yields exactly one connection', async () => {
    // Signaling latency 0, 5 and 20 ms: the offer and the connect-request cross each other in flight.
    for (const [round, latencyMs] of [0, 5, 20].entries()) {
      const c = cluster({ rtc: engine, ids: [`a${round}`, `b${round}`, `c${round}`], relay: { latencyMs } });
      const [a, b, x] = c.transports as [WebRtcTransport, WebRtcTransport, WebRtcTransport];
      const ev = c.transports.map(watch);
      const sends: Promise<void>[] = [];
      // Every peer sends to every other peer in the same tick.
      for (const from of c.transports) {
        for (const to of c.transports) {
          if (from === to) continue;
          for (let i = 0; i < 50; i++) sends.push(from.send(to.localPeerId, Uint8Array.of(i)));
        }
      }
      await Promise.all(sends);
      for (const [k, to] of c.transports.entries()) {
        for (const from of c.transports) {
          if (from === to) continue;
          await until(() => (ev[k]!.frames.get(from.localPeerId)?.length ?? 0) === 50, 20_000, 'frames');
          expect(ev[k]!.frames.get(from.localPeerId)!.map((f) => f[0])).toEqual([...Array(50).keys()]);
        }
      }
      for (const t of [a, b, x]) {
        const s = t.stats();
        expect(s.sessionsOpened).toBe(2);
        expect(s.peers.map((p) => p.state)).toEqual(['open', 'open']);
      }
      for (const e of ev) {
        expect(e.ups.length).toBe(2);
        expect(e.downs).toEqual([]);
      }
      await c.close();
    }
  }, 60_000);

  it('retries transparently when a fresh connection dies right after "connected" (the node-datachannel flake)', async () => {
    for (const flakySide of ['fl-a', 'fl-b']) {
      let left = 1;
      const Base = engine.RTCPeerConnection;
      const Flaky = function FlakyPeerConnection(config: Record<string, unknown>) {
        const pc = new Base(config);
        if (left > 0) {
          left--;
          // Dies at 'connected', before its channel carried anything (werift closes asynchronously, so its
          // channel must not get a hello out either).
          pc.addEventListener('connectionstatechange', () => {
            if (pc.connectionState === 'connected') void pc.close();
          });
          const createDataChannel = pc.createDataChannel.bind(pc);
          pc.createDataChannel = (label, init) => {
            const dc = createDataChannel(label, init);
            dc.send = () => {};
            return dc;
          };
        }
        return pc;
      } as unknown as RtcEngine['RTCPeerConnection'];
      const flaky: RtcEngine = { ...engine, RTCPeerConnection: Flaky };
      const c = cluster({ ids: ['fl-a', 'fl-b'], rtc: (id) => (id === flakySide ? flaky : engine) });
      const [a, b] = c.transports as [WebRtcTransport, WebRtcTransport];
      const ea = watch(a);
      const eb = watch(b);
      // The higher peer sends, so both roles of the retry (request again / offer again) run.
      await Promise.all([a.send(b.localPeerId, Uint8Array.of(1)), b.send(a.localPeerId, Uint8Array.of(2))]);
      await until(() => eb.frames.get(a.localPeerId)?.length === 1 && ea.frames.get(b.localPeerId)?.length === 1, 20_000, 'frames');
      expect(left).toBe(0);
      expect(a.stats().connectFailures + b.stats().connectFailures).toBeGreaterThanOrEqual(1);
      expect([a.stats().sessionsOpened, b.stats().sessionsOpened]).toEqual([1, 1]);
      expect([ea.ups, eb.ups]).toEqual([[b.localPeerId], [a.localPeerId]]);
      expect([ea.downs, eb.downs]).toEqual([[], []]);
      await c.close();
    }
  }, 60_000);

  it('declares a silent peer down with "timeout" within heartbeatTimeoutMs and rejects its waiting sends', async () => {
    const fa = freezableEngine(engine);
    const fb = freezableEngine(engine);
    const timeout = 1000;
    const c = cluster({
      ids: ['hb-a', 'hb-b'],
      rtc: (id) => (id === 'hb-a' ? fa.engine : fb.engine),
      // b's own timeout is longer, so a is the one that notices first (deterministically).
      transport: (id) => ({
        heartbeatIntervalMs: 200,
        heartbeatTimeoutMs: id === 'hb-a' ? timeout : timeout * 4,
        connectTimeoutMs: 2000,
        connectRetries: 0,
        highWaterMark: 4096,
      }),
    });
    const [a, b] = c.transports as [WebRtcTransport, WebRtcTransport];
    const ea = watch(a);
    const eb = watch(b);
    await a.send(b.localPeerId, Uint8Array.of(1));
    await until(() => eb.frames.get(a.localPeerId)?.length === 1 && ea.ups.length === 1, 10_000, 'link up');
    // Idle for a few heartbeat periods: pings keep the link alive.
    await sleep(timeout * 2);
    expect(ea.downs).toEqual([]);
    expect(eb.downs).toEqual([]);

    // a's engine hangs: nothing in or out, and nothing drains, so sends wait in the transport.
    fa.freeze({ stallSends: true });
    const frozenAt = performance.now();
    const waiting = [a.send(b.localPeerId, new Uint8Array(10_000)), a.send(b.localPeerId, new Uint8Array(10_000))];
    const results = Promise.allSettled(waiting);
    await until(() => ea.downs.length === 1 && eb.downs.length === 1, timeout * 4, 'both sides down');
    expect(ea.downs[0]!.reason).toBe('timeout');
    expect(ea.downs[0]!.peer).toBe(b.localPeerId);
    expect(eb.downs[0]!.peer).toBe(a.localPeerId);
    // b learns it from a's goodbye signal (the channel is frozen) or from the connection closing under it, well
    // before its own, longer timeout.
    expect(['closed', 'failed']).toContain(eb.downs[0]!.reason);
    expect(eb.downs[0]!.at - frozenAt).toBeLessThan(timeout * 4);
    // Generous bound: the timeout plus scheduling noise on a loaded machine.
    expect(ea.downs[0]!.at - frozenAt).toBeLessThan(timeout + 2000);
    for (const r of await results) {
      expect(r.status).toBe('rejected');
      expect(isMeshError((r as PromiseRejectedResult).reason, 'PeerUnavailable')).toBe(true);
    }

    // While frozen, a new connection cannot complete its hello: a typed failure, not a hang.
    await expect(a.send(b.localPeerId, Uint8Array.of(2))).rejects.toMatchObject({ code: 'ConnectionFailed' });
    // Thawed, the next send connects again.
    fa.thaw();
    await a.send(b.localPeerId, Uint8Array.of(3));
    await until(() => eb.frames.get(a.localPeerId)?.length === 2, 10_000, 'frame after reconnect');
    expect([...eb.frames.get(a.localPeerId)![1]!]).toEqual([3]);
  }, 60_000);

  it('fails a send to a peer that is not in the room at once when signaling refuses it, not after connectTimeoutMs', async () => {
    // The test timeout is a third of the connect timeout: only the refusal can settle these sends in time.
    const c = cluster({ ids: ['np-a', 'np-b'], rtc: engine, transport: { connectTimeoutMs: 30_000 }, relay: { refuseUnknown: true } });
    const [a, b] = c.transports as [WebRtcTransport, WebRtcTransport];
    watch(a);
    const eb = watch(b);
    // Both roles: 'np-0' sorts before 'np-a' (a asks for an offer), 'np-z' after it (a offers).
    for (const absent of ['np-0', 'np-z']) {
      await expect(a.send(absent, Uint8Array.of(1))).rejects.toMatchObject({ code: 'PeerUnavailable' });
    }
    await a.send(b.localPeerId, Uint8Array.of(2));
    await until(() => eb.frames.get(a.localPeerId)?.length === 1, 5_000, 'frame to a peer that is there');
  }, 10_000);

  it('reconnects to a peer that restarted (same id, new instance)', async () => {
    const fb = freezableEngine(engine);
    const c = cluster({ ids: ['rs-a', 'rs-b'], rtc: (id) => (id === 'rs-b' ? fb.engine : engine), transport: { heartbeatTimeoutMs: 10_000 } });
    const [a, b] = c.transports as [WebRtcTransport, WebRtcTransport];
    const ea = watch(a);
    watch(b);
    await a.send(b.localPeerId, Uint8Array.of(1));
    await until(() => ea.ups.length === 1, 10_000, 'up');

    // Graceful restart: b closes, a new b comes up and sends first.
    await b.close();
    await until(() => ea.downs.length === 1, 10_000, 'down after close');
    expect(ea.downs[0]!.reason).toBe('closed');
    const b2 = c.add('rs-b');
    const eb2 = watch(b2);
    await b2.send(a.localPeerId, Uint8Array.of(2));
    await until(() => ea.frames.get('rs-b')?.length === 1, 10_000, 'frame from the new b');
    await a.send('rs-b', Uint8Array.of(3));
    await until(() => eb2.frames.get(a.localPeerId)?.length === 1, 10_000, 'frame to the new b');

    // Crash: b2 (built on the freezable engine) hangs without a word and b3 takes its id; b3's first send
    // replaces the stale link at once, long before a's heartbeat would notice.
    fb.freeze();
    const b3 = c.add('rs-b', engine);
    const eb3 = watch(b3);
    await b3.send(a.localPeerId, Uint8Array.of(4));
    await until(() => ea.frames.get('rs-b')?.length === 2, 10_000, 'frame from b3');
    await a.send('rs-b', Uint8Array.of(5));
    await until(() => eb3.frames.get(a.localPeerId)?.length === 1, 10_000, 'frame to b3');
    expect(ea.downs.map((d) => d.reason)).toEqual(['closed', 'closed']);
    await b2.close();
  }, 60_000);

  it('counts and drops malformed signals without throwing, and still connects', async () => {
    const c = cluster({ ids: ['ms-a', 'ms-b'], rtc: engine });
    const [a, b] = c.transports as [WebRtcTransport, WebRtcTransport];
    const eb = watch(b);
    watch(a);
    const garbage: unknown[] = [
      null,
      undefined,
      42,
      'offer',
      [],
      {},
      { v: 2, k: 'offer' },
      { v: 1, k: 'nope' },
      { v: 1, k: 'offer', inst: 'x', seq: 1, sid: 's' },
      { v: 1, k: 'offer', inst: 'x', seq: -1, sid: 's', sdp: 'v=0' },
      { v: 1, k: 'offer', inst: 'bad id with spaces', seq: 1, sid: 's', sdp: 'v=0' },
      { v: 1, k: 'answer', inst: 'x', rid: 1.5, sid: 's', sdp: 'v=0' },
      { v: 1, k: 'candidate', sid: 's', candidate: 7 },
      { v: 1, k: 'candidate', sid: 's', candidate: 'candidate:1 1 udp 1 127.0.0.1 1 typ host', sdpMid: null, sdpMLineIndex: null },
      { v: 1, k: 'offer', inst: 'x', seq: 1, sid: 's', sdp: 'x'.repeat(70_000) },
      { v: 1, k: 'connect-request', inst: 'x', rid: Number.MAX_SAFE_INTEGER + 2 },
      JSON.parse('{"v":1,"k":"bye","__proto__":{"sid":"s"}}') as unknown,
      { get v(): number {
        throw new Error('hostile getter');
      } },
    ];
    for (const g of garbage) expect(() => a.handleSignal('ms-b', g)).not.toThrow();
    expect(() => a.handleSignal('', { v: 1, k: 'bye', sid: 's' })).not.toThrow();
    expect(() => a.handleSignal(a.localPeerId, { v: 1, k: 'bye', sid: 's' })).not.toThrow();
    expect(() => a.handleSignal(123 as unknown as string, { v: 1, k: 'bye', sid: 's' })).not.toThrow();
    // Well-formed but from the wrong role: 'ms-a' < 'ms-b', so b must not offer and a must not request.
    a.handleSignal('ms-b', { v: 1, k: 'offer', inst: 'x', seq: 1, sid: 's', sdp: 'v=0' });
    b.handleSignal('ms-a', { v: 1, k: 'connect-request', inst: 'x', rid: 1 });
    expect(a.stats().signalsDropped).toBe(garbage.length + 3 + 1);
    expect(b.stats().signalsDropped).toBe(1);
    // Well-formed signals for sessions that do not exist are stale, not errors.
    a.handleSignal('ms-b', { v: 1, k: 'answer', inst: 'x', rid: 0, sid: 'nosuch', sdp: 'v=0' });
    a.handleSignal('ms-b', { v: 1, k: 'bye', sid: 'nosuch' });
    expect(a.stats().signalsStale).toBe(2);
    // A bad offer (unparseable SDP) fails that attempt only.
    b.handleSignal('ms-a', { v: 1, k: 'offer', inst: 'evil', seq: 1, sid: 'evil-1', sdp: 'this is not sdp' });
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        a.handleSignal('ms-b', v);
        b.handleSignal('ms-a', v);
      }),
      { numRuns: 300 },
    );
    await a.send(b.localPeerId, Uint8Array.of(7));
    await until(() => eb.frames.get(a.localPeerId)?.length === 1, 10_000, 'frame');
  }, 30_000);

  it('resets the link on a protocol violation on the channel, and reconnects on the next send', async () => {
    const fa = freezableEngine(engine);
    const c = cluster({ ids: ['pv-a', 'pv-b'], rtc: (id) => (id === 'pv-a' ? fa.engine : engine) });
    const [a, b] = c.transports as [WebRtcTransport, WebRtcTransport];
    const ea = watch(a);
    const eb = watch(b);
    await a.send(b.localPeerId, Uint8Array.of(1));
    await until(() => eb.frames.get(a.localPeerId)?.length === 1 && ea.ups.length === 1, 10_000, 'up');
    // A message from a future protocol version.
    expect(fa.sendRaw(Uint8Array.of(FRAMING_MAGIC, 9, RecordKind.Frame, 0, 0, 0, 0))).toBe(1);
    await until(() => eb.downs.length === 1 && ea.downs.length === 1, 10_000, 'reset');
    expect(eb.downs[0]!.reason).toBe('failed');
    expect(b.stats().protocolErrors).toBe(1);
    await a.send(b.localPeerId, Uint8Array.of(2));
    await until(() => eb.frames.get(a.localPeerId)?.length === 2, 10_000, 'frame after reset');
  }, 30_000);

  it('keeps the engine queue bounded during a burst (bytes and, on werift, messages)', async () => {
    const hwm = 256 * 1024;
    const c = cluster({ ids: ['bp-a', 'bp-b'], rtc: engine, transport: { highWaterMark: hwm } });
    const [a, b] = c.transports as [WebRtcTransport, WebRtcTransport];
    let got = 0;
    b.setHandlers({ onFrame: () => void got++ });
    watch(a);
    let maxBytes = 0;
    let maxMessages = 0;
    const n = 300;
    for (let i = 0; i < n; i++) {
      // Unawaited bursts of 10 frames, then await: the transport queue absorbs them, not the engine.
      const batch: Promise<void>[] = [];
      for (let k = 0; k < 10; k++) batch.push(a.send(b.localPeerId, new Uint8Array(8 * 1024)));
      const p = a.stats().peers[0]!;
      maxBytes = Math.max(maxBytes, p.engineBufferedBytes);
      maxMessages = Math.max(maxMessages, p.engineBufferedMessages);
      await Promise.all(batch);
    }
    await until(() => got === n * 10, 30_000, 'all frames');
    expect(maxBytes).toBeLessThanOrEqual(hwm + 64 * 1024);
    if (engineName === 'werift') expect(maxMessages).toBeLessThanOrEqual(WERIFT_MAX_BUFFERED_MESSAGES + 2);
  }, 60_000);

  it('post(): queues frames without a promise, in order with send(), and reports refusals to its listener', async () => {
    const c = cluster({ ids: ['po-a', 'po-b'], rtc: engine, transport: { maxFrameSize: 4096 } });
    const [a, b] = c.transports as [WebRtcTransport, WebRtcTransport];
    const eb = watch(b);
    watch(a);
    const failures: string[] = [];
    const listener = { sendFailed: (e: { code: string }) => failures.push(e.code) };
    for (let i = 0; i < 50; i++) {
      if (i % 2 === 0) a.post(b.localPeerId, Uint8Array.of(i), listener);
      else void a.send(b.localPeerId, Uint8Array.of(i));
    }
    a.post(b.localPeerId, new Uint8Array(5000), listener); // too large: refused at once
    expect(failures).toEqual(['MessageTooLarge']);
    await until(() => eb.frames.get(a.localPeerId)?.length === 50, 10_000, 'frames');
    expect(eb.frames.get(a.localPeerId)!.map((f) => f[0])).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(a.stats().framesSent).toBe(50);
    expect(a.stats().bytesSent).toBe(50);
    await a.close();
    a.post(b.localPeerId, Uint8Array.of(1), listener);
    a.post(b.localPeerId, Uint8Array.of(1)); // no listener: dropped quietly
    expect(failures).toEqual(['MessageTooLarge', 'Closed']);
  }, 30_000);

  it('measures the round-trip time with its heartbeats, in both directions', async () => {
    const heartbeatTimeoutMs = 3000;
    const c = cluster({ ids: ['rtt-a', 'rtt-b'], rtc: engine, transport: { heartbeatIntervalMs: 50, heartbeatTimeoutMs } });
    const [a, b] = c.transports as [WebRtcTransport, WebRtcTransport];
    watch(a);
    watch(b);
    expect(a.rtt(b.localPeerId)).toBeUndefined();
    await a.send(b.localPeerId, Uint8Array.of(1));
    await until(() => a.rtt(b.localPeerId) !== undefined && b.rtt(a.localPeerId) !== undefined, 10_000, 'rtt on both sides');
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      const rtt = x.rtt(y.localPeerId)!;
      expect(rtt).toBeGreaterThanOrEqual(0);
      // A link slower than its own liveness timeout would have been declared down.
      expect(rtt).toBeLessThan(heartbeatTimeoutMs);
    }
    expect(a.rtt('nobody')).toBeUndefined();
  }, 30_000);

  it('survives a throwing onFrame handler', async () => {
    const c = cluster({ ids: ['th-a', 'th-b'], rtc: engine });
    const [a, b] = c.transports as [WebRtcTransport, WebRtcTransport];
    const seen: number[] = [];
    b.setHandlers({
      onFrame: (_from, f) => {
        seen.push(f[0]!);
        if (f[0] === 1) throw new Error('handler bug');
      },
    });
    await Promise.all([0, 1, 2].map((i) => a.send(b.localPeerId, Uint8Array.of(i))));
    await until(() => seen.length === 3, 10_000, 'frames');
    expect(seen).toEqual([0, 1, 2]);
    expect(b.stats().handlerErrors).toBe(1);
  }, 30_000);

  it('leaves no timers and no sockets behind after close()', async () => {
    const clock = countingClock();
    const c = cluster({ ids: ['lk-a', 'lk-b', 'lk-c'], rtc: engine, transport: { clock } });
    const [a, b, x] = c.transports as [WebRtcTransport, WebRtcTransport, WebRtcTransport];
    watch(a);
    watch(b);
    watch(x);
    await Promise.all([a.send(b.localPeerId, Uint8Array.of(1)), b.send(x.localPeerId, Uint8Array.of(1))]);
    // A pending attempt to nowhere, cut short by close().
    const lost = a.send('zz-nobody', Uint8Array.of(1)).then(
      () => undefined,
      (err: unknown) => err,
    );
    await sleep(300);
    expect(clock.active).toBeGreaterThan(0);
    await c.close();
    expect(await lost).toMatchObject({ code: 'Closed' });
    expect(clock.active).toBe(0);
    const udp = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWRAP').length;
    await until(() => udp() === 0, 5000, 'UDP sockets closed');
  }, 30_000);
});

describe('WebRtcTransport across engines', () => {
  it('connects node-datachannel and werift peers in both roles', async () => {
    for (const [lower, higher] of [
      ['node-datachannel', 'werift'],
      ['werift', 'node-datachannel'],
    ] as const) {
      const c = cluster({
        ids: ['x-1', 'x-2'],
        rtc: (id) => (id === 'x-1' ? engines[lower] : engines[higher]),
      });
      const [a, b] = c.transports as [WebRtcTransport, WebRtcTransport];
      const ea = watch(a);
      const eb = watch(b);
      const big = new Uint8Array(1024 * 1024).map((_, i) => i * 7);
      await Promise.all([a.send(b.localPeerId, big), b.send(a.localPeerId, Uint8Array.of(9))]);
      await until(() => eb.frames.get('x-1')?.length === 1 && ea.frames.get('x-2')?.length === 1, 20_000, `${lower} <-> ${higher}`);
      expect(Buffer.from(eb.frames.get('x-1')![0]!).equals(Buffer.from(big))).toBe(true);
      await c.close();
    }
  }, 60_000);
});

describe('WebRtcTransport without a usable engine', () => {
  it('fails sends with ConnectionFailed when the engine cannot load', async () => {
    const relay = createSignalRelay();
    const t = new WebRtcTransport({
      localPeerId: 'ne-a',
      signal: relay.signalFor('ne-a'),
      rtc: Promise.reject(new Error('no native module')),
      connectRetries: 1,
    });
    await expect(t.send('ne-b', Uint8Array.of(1))).rejects.toMatchObject({ code: 'ConnectionFailed' });
    await t.close();
  });

  it('validates options', () => {
    const signal = (): void => {};
    expect(() => new WebRtcTransport({ localPeerId: '', signal })).toThrow(/localPeerId/);
    expect(() => new WebRtcTransport({ localPeerId: 'a', signal, chunkSize: 10 })).toThrow(/chunkSize/);
    expect(() => new WebRtcTransport({ localPeerId: 'a', signal, heartbeatTimeoutMs: 0 })).toThrow(/heartbeatTimeoutMs/);
  });
});

describe('timed pings', () => {
  it('round-trip their fields, and refuse empty (older peers) and malformed bodies', () => {
    expect(decodePing(encodePing(12.5, undefined))).toEqual({ sentAt: 12.5, echoSentAt: -1, echoHeldMs: 0 });
    expect(decodePing(encodePing(100, { sentAt: 40, heldMs: 7.25 }))).toEqual({ sentAt: 100, echoSentAt: 40, echoHeldMs: 7.25 });
    expect(decodePing(new Uint8Array(0))).toBeUndefined();
    expect(decodePing(new Uint8Array(23))).toBeUndefined();
    expect(decodePing(encodePing(Number.NaN, undefined))).toBeUndefined();
    expect(decodePing(encodePing(1, { sentAt: 0, heldMs: -5 }))).toBeUndefined();
  });
});
