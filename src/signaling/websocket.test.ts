import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as WsWebSocket } from 'ws';
import { mintRoomToken } from '../../signaling-server/auth.js';
import { createSignalingServer, type SignalingServer, type SignalingServerOptions } from '../../signaling-server/server.js';
import { SimulatedClock } from '../clock/simulated.js';
import { SignalingError } from '../errors.js';
import type { PeerInfo, ViewSnapshot } from '../membership/types.js';
import { seededRandom } from '../random.js';
import { PROTOCOL_VERSION, reasonOf, type ClientMessage, type ServerMessage } from './messages.js';
import type { SignalingStatus } from './types.js';
import { WebSocketSignaling, backoffDelay, type WebSocketConstructor, type WebSocketLike, type WebSocketSignalingOptions } from './websocket.js';

// Compile-time: the `ws` package and the WHATWG WebSocket both fit the injected constructor type.
const wsFits: WebSocketConstructor = WsWebSocket;
const domFits: WebSocketConstructor | undefined = typeof WebSocket === 'undefined' ? undefined : WebSocket;
void wsFits;
void domFits;

const secret = 'client-test-secret-of-32-bytes-or-more';
const peer = (id: string, patch: Partial<PeerInfo> = {}): PeerInfo => ({ id, incarnation: 1, kind: 'browser', weight: 1, capabilities: [], ...patch });
const ids = (v: ViewSnapshot | undefined): string[] => (v?.peers ?? []).map((p) => p.id);

/** Records what a client reports. */
class Probe {
  readonly views: ViewSnapshot[] = [];
  readonly signals: Array<[string, unknown]> = [];
  readonly statuses: SignalingStatus[] = [];
  readonly errors: SignalingError[] = [];

  attach(client: WebSocketSignaling): this {
    client.setHandlers({
      onView: (v) => this.views.push(v),
      onSignal: (from, data) => this.signals.push([from, data]),
      onStatus: (s) => this.statuses.push(s),
    });
    return this;
  }

  get last(): ViewSnapshot | undefined {
    return this.views.at(-1);
  }

  versionsIncrease(): void {
    const v = this.views.map((x) => x.version);
    for (let i = 1; i < v.length; i++) expect(v[i]!, `versions ${v.join(',')}`).toBeGreaterThan(v[i - 1]!);
  }
}

/** Polls `predicate` in real time (for tests against real sockets). */
async function until(predicate: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function reasonOfRejection(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => 'resolved',
    (err: unknown) => {
      expect(err).toBeInstanceOf(SignalingError);
      return reasonOf(err);
    },
  );
}

/** A TCP proxy to 127.0.0.1:`port` that can cut the client side of its connections and keep the upstream side. */
async function tcpProxy(port: number): Promise<{ url: string; cutClientSides(): void; close(): Promise<void> }> {
  const pairs: Array<[Socket, Socket]> = [];
  const server = createServer((down) => {
    const up = connect(port, '127.0.0.1');
    down.pipe(up);
    up.pipe(down);
    down.on('error', () => {});
    up.on('error', () => {});
    pairs.push([down, up]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${address.port}`,
    cutClientSides() {
      for (const [down, up] of pairs.splice(0)) {
        down.unpipe(up);
        up.unpipe(down);
        up.pause(); // the upstream socket stays open and silent (it still answers TCP, not WebSocket pings)
        down.destroy();
      }
    },
    async close() {
      for (const [down, up] of pairs.splice(0)) {
        down.destroy();
        up.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Against the real server

describe('WebSocketSignaling with the real server', () => {
  let servers: SignalingServer[] = [];
  let clients: WebSocketSignaling[] = [];
  const start = async (options: SignalingServerOptions = {}): Promise<SignalingServer> => {
    const s = await createSignalingServer({ logger: false, ...options });
    servers.push(s);
    return s;
  };
  const client = (url: string, room = 'room', options: Partial<WebSocketSignalingOptions> = {}): WebSocketSignaling => {
    const c = new WebSocketSignaling({ url, room, WebSocket: WsWebSocket as unknown as WebSocketConstructor, backoff: { initialMs: 20, maxMs: 200 }, ...options });
    clients.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(clients.map((c) => c.leave()));
    await Promise.all(servers.map((s) => s.close()));
    clients = [];
    servers = [];
  });

  it('presence: three peers see each other with strictly increasing versions; updates and leaves show up', async () => {
    const server = await start();
    const names = ['a', 'b', 'c'];
    const cs = names.map(() => client(server.url));
    const probes = cs.map((c) => new Probe().attach(c));
    await Promise.all(cs.map((c, i) => c.join(peer(names[i]!))));
    for (const c of cs) expect(c.status).toBe('open');
    await until(() => probes.every((p) => ids(p.last).length === 3), 'all see 3 peers');
    for (const p of probes) {
      expect(ids(p.last)).toEqual(names);
      expect(p.statuses).toEqual(['connecting', 'open']);
    }

    cs[1]!.updateCapabilities(['game', 'chat']);
    await until(() => probes.every((p) => p.last?.peers.find((x) => x.id === 'b')?.capabilities.join() === 'chat,game'), 'capabilities');

    await cs[2]!.leave();
    expect(cs[2]!.status).toBe('closed');
    await until(() => probes.slice(0, 2).every((p) => ids(p.last).join() === 'a,b'), 'c left');
    for (const p of probes) p.versionsIncrease();
    expect(server.rooms()[0]!.peers.map((p) => p.id)).toEqual(['a', 'b']);
  });

  it('relay: signals reach their target; a signal to another room is refused and not delivered; both stay open', async () => {
    const server = await start();
    const errors: SignalingError[] = [];
    const a = client(server.url, 'r1', { onError: (e) => errors.push(e) });
    const b = client(server.url, 'r1');
    const c = client(server.url, 'r2');
    const [pa, pb, pc] = [a, b, c].map((x) => new Probe().attach(x));
    await Promise.all([a.join(peer('a')), b.join(peer('b')), c.join(peer('c'))]);

    a.signal('b', { type: 'offer', sdp: 'v=0\r\n' });
    await until(() => pb!.signals.length === 1, 'b got the signal');
    expect(pb!.signals[0]).toEqual(['a', { type: 'offer', sdp: 'v=0\r\n' }]);

    a.signal('c', { type: 'offer' });
    await until(() => errors.length === 1, 'error for c');
    expect(reasonOf(errors[0])).toBe('unknown-peer');
    expect(errors[0]!.details['peer']).toBe('c');

    b.signal('a', 'still here');
    await until(() => pa!.signals.length === 1, 'a got the answer');
    expect(pc!.signals).toEqual([]);
    expect([a.status, b.status, c.status]).toEqual(['open', 'open', 'open']);
  });

  it('buffers signals and the latest view until handlers are set', async () => {
    const server = await start();
    // A spying socket shows when frames have reached the client (its listener runs right before the client's).
    const frames: string[] = [];
    const Spy = class extends WsWebSocket {
      constructor(url: string) {
        super(url);
        this.on('message', (data: Buffer) => frames.push(data.toString()));
      }
    };
    const a = client(server.url);
    const late = client(server.url, 'room', { WebSocket: Spy });
    new Probe().attach(a);
    await a.join(peer('a'));
    await late.join(peer('late'));
    a.signal('late', 1);
    a.signal('late', 2);
    await until(() => frames.filter((f) => f.includes('"type":"signal"')).length === 2, 'signals reached the client');
    const probe = new Probe().attach(late);
    expect(probe.signals).toEqual([
      ['a', 1],
      ['a', 2],
    ]);
    expect(ids(probe.last)).toEqual(['a', 'late']);
    expect(probe.views).toHaveLength(1);
  });

  it('reconnects after a server restart on the same port, re-announces, and keeps delivered versions increasing', async () => {
    // initialVersion 0: the restarted server numbers from 1 again (the hard case; by default it would continue
    // above its predecessor), so the client has to keep its delivered versions increasing by itself.
    const first = await start({ pingIntervalMs: 200, initialVersion: 0 });
    const names = ['a', 'b', 'c'];
    const cs = names.map(() => client(first.url));
    const probes = cs.map((c) => new Probe().attach(c));
    await Promise.all(cs.map((c, i) => c.join(peer(names[i]!, { capabilities: [`cap-${i}`] }))));
    await until(() => probes.every((p) => ids(p.last).length === 3), 'converged before restart');
    const epoch = cs[0]!.serverEpoch;
    const before = probes.map((p) => p.last!.version);

    await first.close();
    await until(() => cs.every((c) => c.status === 'connecting'), 'clients notice');
    // Capabilities changed while disconnected are carried by the re-announcement.
    cs[0]!.updateCapabilities(['cap-0', 'extra']);
    await new Promise((r) => setTimeout(r, 150)); // let a few reconnect attempts fail
    const second = await start({ port: first.port, pingIntervalMs: 200, initialVersion: 0 });
    expect(second.port).toBe(first.port);

    await until(() => cs.every((c) => c.status === 'open'), 'clients reconnected');
    await until(() => probes.every((p) => ids(p.last).length === 3), 'converged after restart');
    expect(second.rooms()[0]!.version).toBeLessThanOrEqual(Math.max(...before));
    expect(second.rooms()[0]!.peers).toEqual([
      peer('a', { capabilities: ['cap-0', 'extra'] }),
      peer('b', { capabilities: ['cap-1'] }),
      peer('c', { capabilities: ['cap-2'] }),
    ]);
    probes.forEach((p, i) => {
      p.versionsIncrease();
      expect(p.last!.version).toBeGreaterThan(before[i]!);
      expect(p.statuses).toEqual(['connecting', 'open', 'connecting', 'open']);
    });
    expect(cs[0]!.serverEpoch).toBe(second.epoch);
    expect(cs[0]!.serverEpoch).not.toBe(epoch);
    // Signals flow again.
    cs[0]!.signal('c', 'after restart');
    await until(() => probes[2]!.signals.some(([, d]) => d === 'after restart'), 'signal after restart');
  });

  it('auth: a refused join rejects with Unauthorized or Forbidden and is never retried', async () => {
    let connections = 0;
    const server = await start({ auth: { secret }, logger: (r) => void (r.event === 'connected' && connections++) });
    const cases: Array<[Partial<WebSocketSignalingOptions>, PeerInfo, string, string]> = [
      [{}, peer('x'), 'Unauthorized', 'token-missing'],
      [{ token: 'garbage' }, peer('x'), 'Unauthorized', 'token-invalid'],
      [{ token: await mintRoomToken({ secret, room: 'room', peer: 'x', ttl: 60, now: Date.now() - 600_000 }) }, peer('x'), 'Unauthorized', 'token-expired'],
      [{ token: await mintRoomToken({ secret, room: 'room', peer: 'y' }) }, peer('x'), 'Forbidden', 'peer-mismatch'],
      [{ token: await mintRoomToken({ secret, room: 'room', peer: 'x', capabilities: ['chat'] }) }, peer('x', { capabilities: ['game'] }), 'Forbidden', 'capability-not-granted'],
    ];
    for (const [options, self, code, reason] of cases) {
      const c = client(server.url, 'room', options);
      const before = connections;
      const err = await c.join(self).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, reason).toBeInstanceOf(SignalingError);
      expect([(err as SignalingError).code, reasonOf(err)]).toEqual([code, reason]);
      if (reason === 'token-expired') expect((err as Error).message).toMatch(/expired at .*get a new one/);
      expect(c.status).toBe('closed');
      expect(c.lastError).toBe(err);
      await new Promise((r) => setTimeout(r, 100)); // several backoff periods (20..200 ms)
      expect(connections - before, `${reason}: connections`).toBe(1);
    }
    const ok = client(server.url, 'room', { token: await mintRoomToken({ secret, room: 'room', peer: 'x', capabilities: ['game'] }) });
    await ok.join(peer('x', { capabilities: ['game'] }));
    expect(ok.status).toBe('open');
    // A capability the token does not grant, announced later: stopped for good, reported as Forbidden.
    const errors: SignalingError[] = [];
    const later = client(server.url, 'room', { token: await mintRoomToken({ secret, room: 'room', peer: 'z', capabilities: ['game'] }), onError: (e) => errors.push(e) });
    await later.join(peer('z', { capabilities: ['game'] }));
    later.updateCapabilities(['game', 'admin']);
    await until(() => later.status === 'closed', 'stopped after the refused update');
    expect(errors.map((e) => [e.code, reasonOf(e)])).toContainEqual(['Forbidden', 'capability-not-granted']);
  });

  it('auth: a token provider is asked before every join; an expired token after a reconnect stops the client', async () => {
    const first = await start({ auth: { secret }, pingIntervalMs: 200 });
    const issued: string[] = [];
    let expire = false;
    const errors: SignalingError[] = [];
    const c = client(first.url, 'room', {
      onError: (e) => errors.push(e),
      token: async () => {
        const now = expire ? Date.now() - 3_600_000 : Date.now();
        const t = await mintRoomToken({ secret, room: 'room', peer: 'p', ttl: 60, now });
        issued.push(t);
        return t;
      },
    });
    await c.join(peer('p'));
    expect(issued).toHaveLength(1);
    await first.close();
    await until(() => c.status === 'connecting', 'client noticed');
    const second = await start({ auth: { secret }, port: first.port, pingIntervalMs: 200 });
    await until(() => c.status === 'open', 'reconnected with a fresh token');
    expect(issued.length).toBeGreaterThanOrEqual(2);
    expect(second.rooms()[0]!.peers.map((p) => p.id)).toEqual(['p']);

    expire = true;
    await second.close();
    const third = await start({ auth: { secret }, port: first.port, pingIntervalMs: 200 });
    await until(() => c.status === 'closed', 'stopped: token expired');
    const expired = errors.find((e) => reasonOf(e) === 'token-expired');
    expect(expired?.code).toBe('Unauthorized');
    const asked = issued.length;
    await new Promise((r) => setTimeout(r, 400));
    expect(issued.length).toBe(asked); // no reconnect loop
    expect(third.rooms()).toEqual([]);
  });

  it('auth: a failing token provider is reported and retried with backoff', async () => {
    const server = await start({ auth: { secret } });
    let calls = 0;
    const errors: SignalingError[] = [];
    const c = client(server.url, 'room', {
      onError: (e) => errors.push(e),
      token: () => {
        calls++;
        if (calls < 3) throw new Error('token service unavailable');
        return mintRoomToken({ secret, room: 'room', peer: 'q' });
      },
    });
    await c.join(peer('q'));
    expect(calls).toBe(3);
    expect(errors.filter((e) => /token service unavailable/.test(e.message))).toHaveLength(2);
  });

  it('replaces a session the server still believes alive (same id and incarnation, with its resume secret)', async () => {
    const server = await start();
    // The client reaches the server through a proxy that can drop the client's side of every connection while
    // the server's side stays open: the server then still believes the old session alive.
    const proxy = await tcpProxy(server.port);
    try {
      const errors: SignalingError[] = [];
      const x = client(proxy.url, 'room', { onError: (e) => errors.push(e) });
      const probe = new Probe().attach(x);
      await x.join(peer('x', { incarnation: 3 }));
      const other = client(server.url);
      const otherProbe = new Probe().attach(other);
      await other.join(peer('other'));
      await until(() => ids(probe.last).includes('other'), 'x sees other');
      const version = otherProbe.last!.version;

      proxy.cutClientSides();
      await until(() => x.status === 'connecting', 'x noticed the drop');
      await until(() => x.status === 'open', 'x reconnected');
      // The old server-side socket was replaced, not refused as a duplicate; the others saw no change.
      expect(errors.map(reasonOf)).not.toContain('duplicate-peer');
      expect(server.rooms()[0]!.peers.map((p) => p.id)).toEqual(['other', 'x']);
      expect(otherProbe.last!.version).toBe(version);

      // Another connection claiming the same id and incarnation without the secret is refused for good.
      const twin = client(server.url);
      const refused = await twin.join(peer('x', { incarnation: 3 })).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(SignalingError);
      expect(reasonOf(refused)).toBe('duplicate-peer');
      expect(twin.status).toBe('closed');
      expect(x.status).toBe('open');
    } finally {
      await proxy.close();
    }
  });

  it('stops for good when replaced by a newer incarnation', async () => {
    const server = await start();
    const errors: SignalingError[] = [];
    const old = client(server.url, 'room', { onError: (e) => errors.push(e) });
    const probe = new Probe().attach(old);
    await old.join(peer('x', { incarnation: 1 }));
    const newer = client(server.url);
    await newer.join(peer('x', { incarnation: 2 }));
    await until(() => old.status === 'closed', 'old client closed');
    expect(errors.map(reasonOf)).toContain('replaced');
    await new Promise((r) => setTimeout(r, 200));
    expect(probe.statuses.at(-1)).toBe('closed');
    expect(server.rooms()[0]!.peers).toEqual([peer('x', { incarnation: 2 })]);
  });

  it('join rejects with a typed error: stale incarnation, timeout, left', async () => {
    const server = await start();
    await client(server.url).join(peer('x', { incarnation: 5 }));
    const stale = client(server.url);
    expect(await reasonOfRejection(stale.join(peer('x', { incarnation: 4 })))).toBe('stale-incarnation');
    expect(stale.status).toBe('closed');

    // Nothing listens on this port any more: retries until the join timeout.
    const gone = await start();
    await gone.close();
    const lonely = client(gone.url, 'room', { joinTimeoutMs: 300 });
    const t0 = Date.now();
    expect(await reasonOfRejection(lonely.join(peer('y')))).toBe('timeout');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(lonely.status).toBe('closed');

    const leaver = client(gone.url);
    const pending = leaver.join(peer('z'));
    await leaver.leave();
    expect(await reasonOfRejection(pending)).toBe('left');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Deterministic: simulated clock and a scripted fake WebSocket

class FakeSocket implements WebSocketLike {
  readyState = 0;
  bufferedAmount = 0;
  readonly sent: ClientMessage[] = [];
  closedWith: number | undefined;
  readonly #listeners = new Map<string, Array<(event: never) => void>>();

  constructor(readonly url: string) {}

  addEventListener(type: string, listener: (event: never) => void): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(JSON.parse(data) as ClientMessage);
  }

  close(code = 1005): void {
    if (this.readyState >= 2) return;
    this.closedWith = code;
    this.readyState = 2;
    queueMicrotask(() => this.drop(code));
  }

  // test controls
  open(): void {
    this.readyState = 1;
    this.#emit('open', {});
  }
  deliver(message: ServerMessage): void {
    this.#emit('message', { data: JSON.stringify(message) });
  }
  drop(code = 1006): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.#emit('error', {});
    this.#emit('close', { code, reason: '' });
  }
  #emit(type: string, event: unknown): void {
    for (const l of this.#listeners.get(type) ?? []) (l as (e: unknown) => void)(event);
  }
}

function fakeEnv(options: Partial<WebSocketSignalingOptions> = {}) {
  const clock = new SimulatedClock(0);
  const sockets: FakeSocket[] = [];
  const createdAt: number[] = [];
  const Ctor = class extends FakeSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
      createdAt.push(clock.now());
    }
  };
  const errors: SignalingError[] = [];
  const client = new WebSocketSignaling({
    url: 'ws://signaling.test',
    room: 'room',
    clock,
    random: seededRandom(1),
    WebSocket: Ctor,
    onError: (e) => errors.push(e),
    ...options,
  });
  const last = (): FakeSocket => sockets.at(-1)!;
  /** Plays the server side of a successful join on the newest socket. */
  const accept = (epoch: string, version: number, peers: PeerInfo[], pingIntervalMs = 1000): void => {
    const s = last();
    if (s.readyState === 0) s.open();
    s.deliver({ type: 'welcome', protocol: PROTOCOL_VERSION, epoch, room: 'room', peerId: peers[0]!.id, pingIntervalMs });
    s.deliver({ type: 'view', room: 'room', epoch, version, peers });
  };
  return { clock, sockets, createdAt, client, errors, last, accept };
}

describe('WebSocketSignaling (simulated)', () => {
  it('computes capped exponential backoff with jitter', () => {
    const b = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 };
    expect([0, 1, 2, 3, 4, 5, 50].map((n) => backoffDelay(n, b, seededRandom(1)))).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    const r = seededRandom(9);
    for (let n = 0; n < 200; n++) {
      const d = backoffDelay(n % 8, { ...b, jitter: 0.5 }, r);
      const base = Math.min(1000, 100 * 2 ** (n % 8));
      expect(d).toBeGreaterThanOrEqual(base / 2);
      expect(d).toBeLessThanOrEqual(base);
    }
  });

  it('retries a failing connection on the backoff schedule until the join timeout', async () => {
    const env = fakeEnv({ backoff: { initialMs: 100, maxMs: 1000, jitter: 0 }, joinTimeoutMs: 5000 });
    const joined = reasonOfRejection(env.client.join(peer('a')));
    for (let i = 0; i < 12; i++) {
      await env.clock.advance(0);
      env.last().drop();
      const n = env.sockets.length;
      await env.clock.advanceUntil(() => env.sockets.length > n || env.client.status === 'closed', 2000, 10);
    }
    expect(await joined).toBe('timeout');
    const gaps = env.createdAt.slice(1).map((t, i) => t - env.createdAt[i]!);
    expect(gaps.slice(0, 6)).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(env.createdAt.at(-1)!).toBeLessThanOrEqual(5000);
    const count = env.sockets.length;
    await env.clock.advance(30_000);
    expect(env.sockets.length).toBe(count);
    expect(env.client.status).toBe('closed');
  });

  it('announces with the join message and resolves on the first view containing itself', async () => {
    const env = fakeEnv();
    const probe = new Probe().attach(env.client);
    const joined = env.client.join(peer('a', { capabilities: ['z', 'a', 'z'] }));
    await env.clock.advance(0);
    env.last().open();
    expect(env.last().sent).toEqual([{ type: 'join', protocol: PROTOCOL_VERSION, room: 'room', peer: peer('a', { capabilities: ['a', 'z'] }) }]);
    env.last().deliver({ type: 'view', room: 'room', epoch: 'e1', version: 3, peers: [peer('b')] });
    expect(env.client.status).toBe('connecting');
    env.accept('e1', 4, [peer('a', { capabilities: ['a', 'z'] }), peer('b')]);
    await joined;
    expect(env.client.status).toBe('open');
    expect(probe.views.map((v) => v.version)).toEqual([3, 4]);
    expect(probe.statuses).toEqual(['connecting', 'open']);
  });

  it('keeps delivered versions strictly increasing across server restarts (epochs)', async () => {
    // Without the rejoin grace period, so that each server's views are delivered exactly as sent.
    const env = fakeEnv({ backoff: { initialMs: 10, maxMs: 10, jitter: 0 }, rejoinGraceMs: 0 });
    const probe = new Probe().attach(env.client);
    const joined = env.client.join(peer('a'));
    await env.clock.advance(0);
    env.accept('e1', 5, [peer('a')]);
    await joined;
    env.last().deliver({ type: 'view', room: 'room', epoch: 'e1', version: 7, peers: [peer('a'), peer('b')] });
    env.last().deliver({ type: 'view', room: 'room', epoch: 'e1', version: 6, peers: [peer('a')] }); // stale: dropped
    env.last().deliver({ type: 'view', room: 'other', epoch: 'e1', version: 99, peers: [] }); // other room: ignored

    // Restart: the new server numbers from 1 again.
    env.last().drop();
    expect(env.client.status).toBe('connecting');
    await env.clock.advance(10);
    env.accept('e2', 1, [peer('a')]);
    env.last().deliver({ type: 'view', room: 'room', epoch: 'e2', version: 2, peers: [peer('a'), peer('b')] });
    // Another restart to a server whose counter is already far ahead: no offset needed.
    env.last().drop();
    await env.clock.advance(10);
    env.accept('e3', 100, [peer('a')]);
    // A reconnect to the same server (same epoch) continues its numbering.
    env.last().drop();
    await env.clock.advance(10);
    env.accept('e3', 100, [peer('a')]);
    env.last().deliver({ type: 'view', room: 'room', epoch: 'e3', version: 101, peers: [peer('a'), peer('c')] });

    expect(probe.views.map((v) => v.version)).toEqual([5, 7, 8, 9, 100, 101]);
    expect(probe.views.map((v) => ids(v).join())).toEqual(['a', 'a,b', 'a', 'a,b', 'a', 'a,c']);
    expect(env.client.serverEpoch).toBe('e3');
    // Every reconnect re-announced the same id and incarnation.
    for (const s of env.sockets) expect(s.sent[0]).toMatchObject({ type: 'join', peer: { id: 'a', incarnation: 1 } });
    expect(Object.isFrozen(probe.views[0])).toBe(true);
  });

  it('after a server restart, keeps peers that have not rejoined yet for rejoinGraceMs, then drops them', async () => {
    const env = fakeEnv({ backoff: { initialMs: 10, maxMs: 10, jitter: 0 }, rejoinGraceMs: 3000 });
    const probe = new Probe().attach(env.client);
    const joined = env.client.join(peer('b'));
    await env.clock.advance(0);
    // Server pings every 60 s: no heartbeat drops the fake sockets while the clock jumps.
    env.accept('e1', 5, [peer('b'), peer('a'), peer('c'), peer('d')], 60_000);
    await joined;
    env.last().drop();
    await env.clock.advance(10);
    // The restarted server knows only b at first, then a; c never comes back; d comes back late.
    env.accept('e2', 1, [peer('b')], 60_000);
    env.last().deliver({ type: 'view', room: 'room', epoch: 'e2', version: 2, peers: [peer('a'), peer('b')] });
    expect(probe.views.map((v) => ids(v).sort().join())).toEqual(['a,b,c,d', 'a,b,c,d', 'a,b,c,d']);
    await env.clock.advance(2999);
    expect(probe.views).toHaveLength(3);
    await env.clock.advance(1);
    // Grace over: the server's own view, one version up.
    expect(probe.views.map((v) => ids(v).sort().join()).at(-1)).toBe('a,b');
    env.last().deliver({ type: 'view', room: 'room', epoch: 'e2', version: 3, peers: [peer('a'), peer('b'), peer('d')] });
    expect(probe.views.map((v) => ids(v).sort().join()).at(-1)).toBe('a,b,d');
    const versions = probe.views.map((v) => v.version);
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
    expect(new Set(versions).size).toBe(versions.length);

    // Everyone back within the grace period: it ends at once, and no later view is changed.
    env.last().drop();
    await env.clock.advance(10);
    env.accept('e3', 1, [peer('b')], 60_000);
    expect(ids(probe.views.at(-1)!).sort().join()).toBe('a,b,d');
    env.last().deliver({ type: 'view', room: 'room', epoch: 'e3', version: 2, peers: [peer('a'), peer('b'), peer('d')] });
    env.last().deliver({ type: 'view', room: 'room', epoch: 'e3', version: 3, peers: [peer('a'), peer('b')] });
    expect(probe.views.slice(-2).map((v) => ids(v).sort().join())).toEqual(['a,b,d', 'a,b']);
    const count = probe.views.length;
    await env.clock.advance(10_000);
    expect(probe.views).toHaveLength(count);
  });

  it('re-sends capabilities changed during a join and while disconnected', async () => {
    const env = fakeEnv({ backoff: { initialMs: 10, maxMs: 10, jitter: 0 } });
    const joined = env.client.join(peer('a', { capabilities: ['x'] }));
    await env.clock.advance(0);
    env.last().open();
    env.client.updateCapabilities(['y', 'x']);
    env.accept('e1', 1, [peer('a', { capabilities: ['x'] })]);
    await joined;
    expect(env.last().sent.at(-1)).toEqual({ type: 'capabilities', capabilities: ['x', 'y'] });

    env.client.updateCapabilities(['z']);
    expect(env.last().sent.at(-1)).toEqual({ type: 'capabilities', capabilities: ['z'] });

    env.last().drop();
    env.client.updateCapabilities(['w']);
    await env.clock.advance(10);
    env.last().open();
    expect(env.last().sent).toEqual([{ type: 'join', protocol: PROTOCOL_VERSION, room: 'room', peer: peer('a', { capabilities: ['w'] }) }]);
    expect(() => env.client.updateCapabilities([''])).toThrow(SignalingError);
  });

  it('drops a socket whose heartbeat goes unanswered and reconnects', async () => {
    const env = fakeEnv({ backoff: { initialMs: 50, maxMs: 50, jitter: 0 } });
    const joined = env.client.join(peer('a'));
    await env.clock.advance(0);
    env.accept('e1', 1, [peer('a')], 1000);
    await joined;
    const first = env.last();
    await env.clock.advance(1000);
    expect(first.sent.at(-1)).toEqual({ type: 'ping' });
    first.deliver({ type: 'pong' }); // answered: counter resets
    await env.clock.advance(2000);
    expect(first.closedWith).toBeUndefined();
    await env.clock.advance(1000); // third tick with two pings unanswered
    expect(first.closedWith).toBe(4001);
    expect(env.client.status).toBe('connecting');
    expect(env.errors.map(reasonOf)).toContain('timeout');
    await env.clock.advance(50);
    expect(env.sockets.length).toBe(2);
  });

  it('abandons a connection attempt that hangs and retries', async () => {
    const env = fakeEnv({ backoff: { initialMs: 50, maxMs: 50, jitter: 0 }, connectTimeoutMs: 1000, joinTimeoutMs: 60_000 });
    const joined = env.client.join(peer('a'));
    await env.clock.advance(0);
    env.accept('e1', 1, [peer('a')]);
    await joined;
    env.last().drop();
    await env.clock.advance(50);
    expect(env.sockets).toHaveLength(2);
    // The second socket never opens nor fails.
    await env.clock.advance(999);
    expect(env.sockets).toHaveLength(2);
    await env.clock.advance(1);
    expect(env.sockets[1]!.closedWith).toBe(4001);
    await env.clock.advance(50);
    expect(env.sockets).toHaveLength(3);
    env.accept('e1', 2, [peer('a')], 60_000);
    expect(env.client.status).toBe('open');
    // Once accepted, the connect timer is off.
    await env.clock.advance(5000);
    expect(env.sockets).toHaveLength(3);
  });

  it('stops on terminal server errors, reports others and keeps reconnecting', async () => {
    const env = fakeEnv({ backoff: { initialMs: 10, maxMs: 10, jitter: 0 } });
    const joined = env.client.join(peer('a'));
    await env.clock.advance(0);
    env.accept('e1', 1, [peer('a')]);
    await joined;
    // Non-terminal: the server closes, the client comes back.
    env.last().deliver({ type: 'error', code: 'room-full', message: 'full' });
    env.last().drop(1008);
    await env.clock.advance(10);
    expect(env.sockets.length).toBe(2);
    env.accept('e1', 2, [peer('a')]);
    expect(env.client.status).toBe('open');
    // Terminal: replaced by another instance of the same id.
    env.last().deliver({ type: 'error', code: 'replaced', message: 'replaced' });
    expect(env.client.status).toBe('closed');
    await env.clock.advance(10_000);
    expect(env.sockets.length).toBe(2);
    expect(env.errors.map(reasonOf)).toEqual(expect.arrayContaining(['room-full', 'replaced']));
    // The client can join again afterwards.
    const again = env.client.join(peer('a', { incarnation: 2 }));
    await env.clock.advance(0);
    env.accept('e1', 5, [peer('a', { incarnation: 2 })]);
    await again;
    expect(env.client.status).toBe('open');
  });

  it('rejects join on a server refusal and on garbage; refuses bad arguments', async () => {
    const env = fakeEnv();
    const joined = reasonOfRejection(env.client.join(peer('a')));
    await env.clock.advance(0);
    env.last().open();
    env.last().deliver({ type: 'error', code: 'stale-incarnation', message: 'no' });
    expect(await joined).toBe('stale-incarnation');
    expect(env.client.status).toBe('closed');

    expect(await reasonOfRejection(env.client.join({ ...peer('a'), weight: 0 }))).toBe('invalid-field');
    expect(() => env.client.updateCapabilities(['x'])).toThrow(/before join/);
    expect(() => new WebSocketSignaling({ url: 'http://x', room: 'r' })).toThrow(SignalingError);
    expect(() => new WebSocketSignaling({ url: 'ws://x', room: 'bad room' })).toThrow(SignalingError);

    const second = fakeEnv();
    void second.client.join(peer('a'));
    expect(await reasonOfRejection(second.client.join(peer('a')))).toBe('already-joined');
    await second.clock.advance(0);
    second.last().open();
    // A frame that is not protocol: the socket is abandoned, the client reconnects.
    second.last().deliver({ type: 'nonsense' } as unknown as ServerMessage);
    expect(second.last().closedWith).toBe(4001);
    expect(second.errors.map(reasonOf)).toContain('unknown-type');
  });

  it('signal(): validates eagerly, sends when open, drops when not', async () => {
    const env = fakeEnv({ maxMessageBytes: 1000, backoff: { initialMs: 10, maxMs: 10, jitter: 0 } });
    expect(() => env.client.signal('b', undefined)).toThrow(SignalingError);
    expect(() => env.client.signal('not valid!', 1)).toThrow(SignalingError);
    expect(() => env.client.signal('b', 'x'.repeat(2000))).toThrow(/exceeds/);
    expect(() => env.client.signal('b', JSON.parse('{"__proto__":1}'))).toThrow(SignalingError);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => env.client.signal('b', cyclic)).toThrow(SignalingError);
    env.client.signal('b', 'dropped: not joined');

    const joined = env.client.join(peer('a'));
    await env.clock.advance(0);
    env.last().open();
    env.client.signal('b', 'dropped: not accepted yet');
    env.accept('e1', 1, [peer('a')]);
    await joined;
    env.client.signal('b', { ok: true });
    env.last().bufferedAmount = 10 * 1024 * 1024;
    env.client.signal('b', 'dropped: congested');
    env.last().bufferedAmount = 0;
    env.last().drop();
    env.client.signal('b', 'dropped: disconnected');
    expect(env.sockets[0]!.sent.filter((m) => m.type === 'signal')).toEqual([{ type: 'signal', to: 'b', data: { ok: true } }]);
  });

  it('leave() sends leave, closes, and never reconnects', async () => {
    const env = fakeEnv({ backoff: { initialMs: 10, maxMs: 10, jitter: 0 } });
    const probe = new Probe().attach(env.client);
    const joined = env.client.join(peer('a'));
    await env.clock.advance(0);
    env.accept('e1', 1, [peer('a')]);
    await joined;
    const leaving = env.client.leave();
    await env.clock.advance(0);
    await leaving;
    expect(env.last().sent.at(-1)).toEqual({ type: 'leave' });
    expect(env.last().closedWith).toBe(1000);
    expect(env.client.status).toBe('closed');
    await env.clock.advance(10_000);
    expect(env.sockets.length).toBe(1);
    expect(probe.statuses).toEqual(['connecting', 'open', 'closed']);
    await env.client.leave(); // idempotent
  });
});
