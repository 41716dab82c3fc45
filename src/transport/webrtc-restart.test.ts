/**
 * WebRtcTransport against peers that are gone or came back: a dial to a peer that is not in the room (signaling
 * refuses its signals), a peer restarting with the same id while a stale dial to it is pending, glare, and links
 * forgotten and made again. On the in-memory fake engine with a simulated clock: fast and deterministic. Every
 * transport has a 30 s connect timeout and every wait here is far shorter, so nothing passes by timing out.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from '../clock/simulated.js';
import { isMeshError } from '../errors.js';
import type { RtcEngine } from './engines/types.js';
import type { WebRtcTransport } from './webrtc.js';
import {
  createWebRtcCluster,
  fakeRtcEngine,
  freezableEngine,
  type FakeRtcEngine,
  type SignalRelayOptions,
  type WebRtcCluster,
} from './webrtc-testkit.js';

const CONNECT_TIMEOUT_MS = 30_000;
/** How long (simulated) any of these exchanges may take: a small fraction of the connect timeout. */
const WITHIN_MS = 2_000;

interface Setup {
  clock: SimulatedClock;
  fake: FakeRtcEngine;
  cluster: WebRtcCluster;
  ts: WebRtcTransport[];
  frames: Map<WebRtcTransport, Map<string, number[]>>;
  watch(t: WebRtcTransport): void;
  got(to: WebRtcTransport, from: string): number[];
}

const open: WebRtcCluster[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

function setup(ids: string[], relay: Omit<SignalRelayOptions, 'clock'> = {}, rtc?: (fake: RtcEngine, id: string) => RtcEngine): Setup {
  const clock = new SimulatedClock(1_000_000);
  const fake = fakeRtcEngine();
  const cluster = createWebRtcCluster({
    ids,
    rtc: (id) => (rtc === undefined ? fake.engine : rtc(fake.engine, id)),
    transport: { clock, connectTimeoutMs: CONNECT_TIMEOUT_MS },
    relay: { clock, ...relay },
  });
  open.push(cluster);
  const frames = new Map<WebRtcTransport, Map<string, number[]>>();
  const watch = (t: WebRtcTransport): void => {
    const m = new Map<string, number[]>();
    frames.set(t, m);
    t.setHandlers({
      onFrame: (from, f) => {
        let l = m.get(from);
        if (l === undefined) m.set(from, (l = []));
        l.push(f[0]!);
      },
    });
  };
  for (const t of cluster.transports) watch(t);
  return { clock, fake, cluster, ts: cluster.transports, frames, watch, got: (to, from) => frames.get(to)?.get(from) ?? [] };
}

/** Settles `p` within `ms` of simulated time, or fails the test. */
async function settle<T>(clock: SimulatedClock, p: Promise<T>, ms = WITHIN_MS): Promise<PromiseSettledResult<T>> {
  let result: PromiseSettledResult<T> | undefined;
  void p.then(
    (value) => (result = { status: 'fulfilled', value }),
    (reason: unknown) => (result = { status: 'rejected', reason }),
  );
  const start = clock.now();
  const done = await clock.advanceUntil(() => result !== undefined, ms);
  if (!done) throw new Error(`still pending after ${clock.now() - start} ms (simulated)`);
  expect(clock.now() - start).toBeLessThan(CONNECT_TIMEOUT_MS);
  return result!;
}

async function until(clock: SimulatedClock, pred: () => boolean, what: string, ms = WITHIN_MS): Promise<void> {
  if (!(await clock.advanceUntil(pred, ms))) throw new Error(`timed out waiting for ${what} (simulated ${ms} ms)`);
}

function expectUnavailable(r: PromiseSettledResult<unknown>): void {
  expect(r.status).toBe('rejected');
  const reason = (r as PromiseRejectedResult).reason as unknown;
  expect(isMeshError(reason, 'PeerUnavailable')).toBe(true);
}

describe('WebRtcTransport: a dial to a peer that is not in the room', () => {
  it('fails at once with PeerUnavailable when signaling refuses its signal, in both roles, and can dial again', async () => {
    const { clock, ts, got } = setup(['m-a', 'm-b'], { refuseUnknown: true });
    const [a, b] = ts as [WebRtcTransport, WebRtcTransport];
    // 'm-0' sorts before 'm-a' (a asks for an offer), 'm-z' after it (a offers).
    for (const absent of ['m-0', 'm-z']) {
      const failures: string[] = [];
      const sent = Promise.all([a.send(absent, Uint8Array.of(1)), a.send(absent, Uint8Array.of(2))]);
      a.post(absent, Uint8Array.of(3), { sendFailed: (e) => failures.push(e.code) });
      expectUnavailable(await settle(clock, sent));
      expect(failures).toEqual(['PeerUnavailable']);
      // The link is idle and forgotten: nothing queued, nothing left to time out.
      expect(a.stats().peers.find((p) => p.peerId === absent)).toBeUndefined();
      // A later send dials again (and fails again, just as fast).
      const attempts = a.stats().connectAttempts;
      expectUnavailable(await settle(clock, a.send(absent, Uint8Array.of(4))));
      expect(a.stats().connectAttempts).toBe(attempts + 1);
    }
    expect(a.stats().signalsRefused).toBeGreaterThanOrEqual(4);
    // The transport still works for a peer that is there.
    expect((await settle(clock, a.send(b.localPeerId, Uint8Array.of(9)))).status).toBe('fulfilled');
    await until(clock, () => got(b, a.localPeerId).length === 1, 'frame to b');
  });

  it('ignores a refusal for a peer that has answered the attempt meanwhile (it came back: the refusal is older)', async () => {
    const { clock, cluster, ts, got, watch } = setup(['rr-a'], { latencyMs: 10 });
    const [a] = ts as [WebRtcTransport];
    // a offers to 'rr-b', which is not there: the offer is lost (no refusal yet).
    const sent = a.send('rr-b', Uint8Array.of(1));
    await clock.advance(50);
    // 'rr-b' comes up and asks a for an offer; the refusal of a's first offer only arrives after that.
    const b = cluster.add('rr-b');
    watch(b);
    b.send(a.localPeerId, Uint8Array.of(2)).catch(() => undefined); // checked by the frames it delivers
    await clock.advance(10);
    a.handleSignalRefused('rr-b', new Error('unknown-peer'));
    expect((await settle(clock, sent)).status).toBe('fulfilled');
    await until(clock, () => got(b, a.localPeerId).length === 1 && got(a, b.localPeerId).length === 1, 'frames both ways');
  });
});

describe('WebRtcTransport: a peer restarting with the same id while a stale dial to it is pending', () => {
  // Lower id first: 'rs-a' makes the offers to 'rs-b'.
  for (const [name, dialer, restarting] of [
    ['offerer dials', 'rs-a', 'rs-b'],
    ['answerer dials', 'rs-z', 'rs-b'],
  ] as const) {
    it(`${name}: the new process gets the queued frames, long before the connect timeout`, async () => {
      // Signals to an absent peer vanish without a refusal: a server that has not noticed the death yet.
      const { clock, cluster, ts, got, watch } = setup([dialer]);
      const [a] = ts as [WebRtcTransport];
      const sent = Promise.all([a.send(restarting, Uint8Array.of(1)), a.send(restarting, Uint8Array.of(2))]);
      await clock.advance(500);
      expect(a.stats().peers.find((p) => p.peerId === restarting)?.state).toMatch(/^(connecting|requesting)$/);
      // The peer's new process joins and sends first, so the stale dial and its first signal cross.
      const b = cluster.add(restarting);
      watch(b);
      const back = b.send(a.localPeerId, Uint8Array.of(7));
      for (const r of [await settle(clock, sent), await settle(clock, back)]) expect(r.status).toBe('fulfilled');
      await until(clock, () => got(b, a.localPeerId).length === 2 && got(a, b.localPeerId).length === 1, 'frames both ways');
      expect(got(b, a.localPeerId)).toEqual([1, 2]);
      expect(a.stats().connectFailures).toBe(0);
    });
  }

  it('a known peer restarting (new instance) while a dial to its old process is pending', async () => {
    let frozen: ReturnType<typeof freezableEngine> | undefined;
    const { clock, fake, cluster, ts, got, watch } = setup(['kr-a', 'kr-b'], {}, (engine, id) => (id === 'kr-b' ? (frozen = freezableEngine(engine)).engine : engine));
    const [a, b] = ts as [WebRtcTransport, WebRtcTransport];
    await settle(clock, a.send(b.localPeerId, Uint8Array.of(1)));
    // b's process hangs without a word and leaves the room; a's link goes down by heartbeat, then a dials the
    // dead process (its offer is lost: no refusal).
    cluster.relay.detach(b.localPeerId);
    frozen!.freeze();
    await until(clock, () => a.stats().peers[0]?.state !== 'open', 'link down', 10_000);
    const sent = a.send('kr-b', Uint8Array.of(2));
    await clock.advance(100);
    expect(a.stats().peers[0]?.state).toBe('connecting');
    const b2 = cluster.add('kr-b', fake.engine);
    watch(b2);
    b2.send(a.localPeerId, Uint8Array.of(3)).catch(() => undefined); // checked by the frames it delivers
    expect((await settle(clock, sent)).status).toBe('fulfilled');
    await until(clock, () => got(b2, a.localPeerId).length === 1 && got(a, 'kr-b').length === 1, 'frames with the new process');
  });
});

describe('WebRtcTransport on the fake engine: connection setup rules', () => {
  it('glare: sends crossing each other open exactly one connection per pair', async () => {
    for (const latencyMs of [0, 5, 20]) {
      const { clock, ts, got } = setup([`g${latencyMs}-a`, `g${latencyMs}-b`, `g${latencyMs}-c`], { latencyMs });
      const sends: Promise<void>[] = [];
      for (const from of ts) for (const to of ts) if (from !== to) for (let i = 0; i < 5; i++) sends.push(from.send(to.localPeerId, Uint8Array.of(i)));
      expect((await settle(clock, Promise.all(sends))).status).toBe('fulfilled');
      for (const to of ts) for (const from of ts) if (from !== to) await until(clock, () => got(to, from.localPeerId).length === 5, 'frames');
      for (const to of ts) for (const from of ts) if (from !== to) expect(got(to, from.localPeerId)).toEqual([0, 1, 2, 3, 4]);
      for (const t of ts) {
        const s = t.stats();
        expect(s.sessionsOpened).toBe(2);
        expect(s.connectFailures).toBe(0);
        expect(s.peers.map((p) => p.state)).toEqual(['open', 'open']);
      }
    }
  });

  it('a link forgotten with disconnect() connects again at once from either side, though the peer remembers it', async () => {
    const { clock, ts, got } = setup(['dc-a', 'dc-b']);
    const [a, b] = ts as [WebRtcTransport, WebRtcTransport];
    await settle(clock, a.send(b.localPeerId, Uint8Array.of(1)));
    let n = 1;
    // a offers, b asks for offers: both kinds of sequence number must keep growing across the forgotten link.
    for (const [x, y] of [
      [a, b],
      [b, a],
      [a, b],
      [b, a],
    ] as const) {
      x.disconnect(y.localPeerId);
      await clock.advance(10);
      expect((await settle(clock, x.send(y.localPeerId, Uint8Array.of(++n)))).status).toBe('fulfilled');
      await until(clock, () => got(y, x.localPeerId).includes(n), `frame ${n}`);
    }
  });
});
