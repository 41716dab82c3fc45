import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, type ClientOptions } from 'ws';
import type { PeerInfo } from '../src/membership/types.js';
import { PROTOCOL_VERSION, parseServerMessage, type ServerMessage } from '../src/signaling/messages.js';
import { mintRoomToken } from './auth.js';
import { jsonLinesLogger, type LogRecord } from './logger.js';
import { CLOSE_REPLACED, createSignalingServer, type SignalingServer, type SignalingServerOptions } from './server.js';

/** A raw protocol client: every server frame is parsed (so the server's output is validated too) and queued. */
class Raw {
  /** Messages not yet taken by {@link next}. */
  readonly received: ServerMessage[] = [];
  /** Every message, in arrival order. */
  readonly history: ServerMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #wake: (() => void) | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      expect(isBinary).toBe(false);
      const msg = parseServerMessage(data.toString());
      this.received.push(msg);
      this.history.push(msg);
      this.#wake?.();
    });
    ws.on('error', () => {});
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async open(url: string, options: ClientOptions = {}): Promise<Raw> {
    const ws = new WebSocket(url, options);
    const raw = new Raw(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return raw;
  }

  static async joined(url: string, room: string, peer: PeerInfo, options: ClientOptions = {}): Promise<Raw> {
    const raw = await Raw.open(url, options);
    raw.send({ type: 'join', protocol: PROTOCOL_VERSION, room, peer });
    await raw.next('welcome');
    await raw.next('view', (v) => v.peers.some((p) => p.id === peer.id));
    return raw;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' || Buffer.isBuffer(message) ? message : JSON.stringify(message));
  }

  /** Waits until a message of `type` matching `pred` has arrived (taken by {@link next} or not); returns the latest. */
  async seen<T extends ServerMessage['type']>(
    type: T,
    pred: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.history.findLast((m) => m.type === type && pred(m as Extract<ServerMessage, { type: T }>));
      if (found !== undefined) return found as Extract<ServerMessage, { type: T }>;
      await this.#sleep(deadline, type);
    }
  }

  async #sleep(deadline: number, what: string): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for ${what}; queue: ${JSON.stringify(this.received).slice(0, 500)}`);
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      setTimeout(resolve, Math.min(left, 50));
    });
  }

  /** Removes and returns the first queued message of `type` matching `pred`, waiting up to `timeoutMs`. */
  async next<T extends ServerMessage['type']>(
    type: T,
    pred: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.received.findIndex((m) => m.type === type && pred(m as Extract<ServerMessage, { type: T }>));
      if (i >= 0) return this.received.splice(i, 1)[0] as Extract<ServerMessage, { type: T }>;
      await this.#sleep(deadline, type);
    }
  }

  views(): Array<Extract<ServerMessage, { type: 'view' }>> {
    return this.history.filter((m): m is Extract<ServerMessage, { type: 'view' }> => m.type === 'view');
  }
}

const peer = (id: string, patch: Partial<PeerInfo> = {}): PeerInfo => ({ id, incarnation: 1, kind: 'edge', weight: 1, capabilities: [], ...patch });
const ids = (v: { peers: readonly PeerInfo[] }): string[] => v.peers.map((p) => p.id);

let servers: SignalingServer[] = [];
let sockets: Raw[] = [];
async function start(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  const server = await createSignalingServer({ logger: false, ...options });
  servers.push(server);
  return server;
}
async function join(server: SignalingServer, room: string, p: PeerInfo, options: ClientOptions = {}): Promise<Raw> {
  const raw = await Raw.joined(server.url, room, p, options);
  sockets.push(raw);
  return raw;
}
async function open(server: SignalingServer): Promise<Raw> {
  const raw = await Raw.open(server.url);
  sockets.push(raw);
  return raw;
}

afterEach(async () => {
  for (const s of sockets) s.ws.terminate();
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  sockets = [];
});

/** Asserts that `from` can still relay a signal to `to` (both sessions healthy). */
async function relays(from: Raw, to: Raw, toId: string, fromId: string): Promise<void> {
  const nonce = Math.random();
  from.send({ type: 'signal', to: toId, data: { nonce } });
  const got = await to.next('signal', (m) => (m.data as { nonce?: number }).nonce === nonce);
  expect(got.from).toBe(fromId);
}

describe('signaling server: membership', () => {
  it('welcomes, broadcasts full views with strictly increasing versions, and removes leavers', async () => {
    const server = await start();
    expect(server.url).toBe(`ws://127.0.0.1:${server.port}`);
    const a = await join(server, 'room', peer('a'));
    const b = await join(server, 'room', peer('b', { kind: 'browser', capabilities: ['chat'] }));
    const c = await join(server, 'room', peer('c'));
    for (const r of [a, b, c]) {
      const last = await r.seen('view', (v) => ids(v).length === 3);
      expect(ids(last)).toEqual(['a', 'b', 'c']);
      expect(last.epoch).toBe(server.epoch);
      expect(r.history[0]).toMatchObject({ type: 'welcome', protocol: PROTOCOL_VERSION, epoch: server.epoch, room: 'room' });
      const seen = r.views().map((v) => v.version);
      for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThan(seen[i - 1]!);
    }
    expect(a.views().map((v) => v.peers.length)).toEqual([1, 2, 3]);

    // A capabilities update is a new view for everyone.
    const before = server.rooms()[0]!.version;
    b.send({ type: 'capabilities', capabilities: ['game', 'chat', 'game'] });
    for (const r of [a, b, c]) {
      const v = await r.next('view', (m) => m.peers.find((p) => p.id === 'b')?.capabilities.length === 2);
      expect(v.peers.find((p) => p.id === 'b')!.capabilities).toEqual(['chat', 'game']);
      expect(v.version).toBeGreaterThan(before);
    }

    // leave: removed at once, socket closed normally.
    b.send({ type: 'leave' });
    expect((await b.closed).code).toBe(1000);
    await a.next('view', (v) => !ids(v).includes('b') && ids(v).length === 2);

    // A socket that simply goes away (no leave) is removed too.
    c.ws.terminate();
    const last = await a.next('view', (v) => ids(v).join() === 'a');
    expect(server.rooms()).toEqual([{ room: 'room', version: last.version, peers: [peer('a')] }]);
  });

  it('keeps rooms apart and forgets empty rooms', async () => {
    const server = await start();
    const a = await join(server, 'one', peer('a'));
    const b = await join(server, 'two', peer('b'));
    expect(ids(a.views().at(-1)!)).toEqual(['a']);
    expect(ids(b.views().at(-1)!)).toEqual(['b']);
    expect(server.rooms().map((r) => r.room)).toEqual(['one', 'two']);
    b.send({ type: 'leave' });
    await b.closed;
    expect(server.rooms().map((r) => r.room)).toEqual(['one']);
    // A re-created room continues the version sequence (versions never go back within one server epoch).
    const old = b.views().at(-1)!.version;
    const b2 = await join(server, 'two', peer('b'));
    expect(b2.views().at(-1)!.version).toBeGreaterThan(old);
  });

  it('terminates a vanished socket (no pongs) within a bounded time and keeps live ones', async () => {
    const server = await start({ pingIntervalMs: 100 });
    const a = await join(server, 'room', peer('a'));
    // autoPong: false makes the client deaf to WebSocket pings, like a peer whose network vanished.
    const ghost = await join(server, 'room', peer('ghost'), { autoPong: false });
    const t0 = Date.now();
    await a.next('view', (v) => ids(v).join() === 'a', 5000);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThan(3000); // bound is ~3 intervals (300 ms); generous for slow machines
    expect((await ghost.closed).code).toBe(1006);
    // The live session survived many ping rounds.
    expect(a.ws.readyState).toBe(WebSocket.OPEN);
    expect(server.rooms()[0]!.peers.map((p) => p.id)).toEqual(['a']);
  });

  it('applies the incarnation rules on a duplicate id', async () => {
    const server = await start();
    const other = await join(server, 'room', peer('other'));
    const first = await join(server, 'room', peer('x', { incarnation: 5 }));
    await other.next('view', (v) => ids(v).includes('x'));
    const version = server.rooms()[0]!.version;

    // Lower incarnation: refused, the present session stays.
    const stale = await open(server);
    stale.send({ type: 'join', protocol: PROTOCOL_VERSION, room: 'room', peer: peer('x', { incarnation: 4 }) });
    expect((await stale.next('error')).code).toBe('stale-incarnation');
    expect((await stale.closed).code).toBe(1008);
    expect(first.ws.readyState).toBe(WebSocket.OPEN);

    // Same incarnation from another connection without the session's resume secret: refused, the present session stays.
    const twin = await open(server);
    twin.send({ type: 'join', protocol: PROTOCOL_VERSION, room: 'room', peer: peer('x', { incarnation: 5 }) });
    const dup = await twin.next('error');
    expect(dup.code).toBe('duplicate-peer');
    expect(dup.message).toMatch(/already connected.*higher incarnation/);
    expect((await twin.closed).code).toBe(1008);
    expect(first.ws.readyState).toBe(WebSocket.OPEN);
    const wrongResume = await open(server);
    wrongResume.send({ type: 'join', protocol: PROTOCOL_VERSION, room: 'room', peer: peer('x', { incarnation: 5 }), resume: 'not-the-secret' });
    expect((await wrongResume.next('error')).code).toBe('duplicate-peer');

    // Same incarnation with the resume secret of the session (the same peer reconnecting before the server
    // noticed its old socket died): replaces the old socket; nothing changed, no new version.
    const welcome = first.history.find((m) => m.type === 'welcome');
    expect(welcome?.type === 'welcome' && typeof welcome.resume).toBe('string');
    const resume = welcome?.type === 'welcome' ? welcome.resume : undefined;
    const again = await open(server);
    again.send({ type: 'join', protocol: PROTOCOL_VERSION, room: 'room', peer: peer('x', { incarnation: 5 }), resume });
    const againWelcome = await again.next('welcome');
    // The secret carries over, so a reconnect that raced this one still matches.
    expect(againWelcome.resume).toBe(resume);
    await again.next('view', (v) => ids(v).includes('x'));
    expect((await first.next('error')).code).toBe('replaced');
    expect((await first.closed).code).toBe(CLOSE_REPLACED);
    expect(again.views().at(-1)!.version).toBe(version);
    expect(server.rooms()[0]!.version).toBe(version);
    await relays(other, again, 'x', 'other');

    // Higher incarnation with other capabilities: replaces and publishes a new view.
    const newer = await join(server, 'room', peer('x', { incarnation: 6, capabilities: ['chat'] }));
    expect((await again.next('error')).code).toBe('replaced');
    const v = await other.next('view', (m) => m.peers.some((p) => p.id === 'x' && p.incarnation === 6));
    expect(v.version).toBeGreaterThan(version);
    expect(v.peers.find((p) => p.id === 'x')!.capabilities).toEqual(['chat']);
    // The replaced socket closing later does not remove the new session.
    await again.closed;
    await relays(other, newer, 'x', 'other');
    expect(server.rooms()[0]!.peers.map((p) => p.id)).toEqual(['other', 'x']);
  });

  it('numbers views from the wall clock by default, so a restarted server continues above its predecessor', async () => {
    const t0 = Date.now() * 1000;
    const first = await start();
    const a = await join(first, 'room', peer('a'));
    const v1 = a.views().at(-1)!.version;
    expect(v1).toBeGreaterThan(t0);
    expect(Number.isSafeInteger(v1)).toBe(true);
    await first.close();
    const second = await start({ port: first.port });
    const a2 = await join(second, 'room', peer('a'));
    expect(a2.views().at(-1)!.version).toBeGreaterThan(v1);
    const fixed = await start({ initialVersion: 41 });
    expect((await join(fixed, 'room', peer('a'))).views().at(-1)!.version).toBe(42);
  });

  it('refuses joins beyond maxPeersPerRoom, a second join and a wrong protocol', async () => {
    const server = await start({ maxPeersPerRoom: 2 });
    const a = await join(server, 'room', peer('a'));
    await join(server, 'room', peer('b'));
    const c = await open(server);
    c.send({ type: 'join', protocol: PROTOCOL_VERSION, room: 'room', peer: peer('c') });
    expect((await c.next('error')).code).toBe('room-full');
    expect((await c.closed).code).toBe(1008);

    a.send({ type: 'join', protocol: PROTOCOL_VERSION, room: 'other', peer: peer('a') });
    expect((await a.next('error')).code).toBe('already-joined');
    expect((await a.closed).code).toBe(1008);

    const d = await open(server);
    d.send({ type: 'join', protocol: PROTOCOL_VERSION + 1, room: 'x', peer: peer('d') });
    expect((await d.next('error')).code).toBe('unsupported-protocol');
    expect((await d.closed).code).toBe(1008);
  });

  it('closes sockets that never join', async () => {
    const server = await start({ joinTimeoutMs: 150 });
    const idle = await open(server);
    idle.send({ type: 'ping' });
    await idle.next('pong');
    expect((await idle.next('error')).code).toBe('join-timeout');
    expect((await idle.closed).code).toBe(1008);
  });
});

describe('signaling server: relay', () => {
  it('relays within a room only; a signal to another room is an error and both sockets stay open', async () => {
    const server = await start();
    const a = await join(server, 'r1', peer('a'));
    const b = await join(server, 'r1', peer('b'));
    const c = await join(server, 'r2', peer('c'));

    a.send({ type: 'signal', to: 'b', data: { sdp: 'v=0', candidates: [1, 2] } });
    expect(await b.next('signal')).toEqual({ type: 'signal', from: 'a', data: { sdp: 'v=0', candidates: [1, 2] } });

    a.send({ type: 'signal', to: 'c', data: 'secret' });
    expect(await a.next('error')).toMatchObject({ code: 'unknown-peer', peer: 'c' });
    c.send({ type: 'signal', to: 'nobody', data: 1 });
    expect(await c.next('error')).toMatchObject({ code: 'unknown-peer', peer: 'nobody' });

    // Nothing leaked into the other room, and every socket still works.
    await relays(b, a, 'a', 'b');
    await relays(a, b, 'b', 'a');
    expect(c.received.filter((m) => m.type === 'signal')).toEqual([]);
    for (const r of [a, b, c]) expect(r.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe('signaling server: bad input', () => {
  const cases: Array<[string, string | Buffer, string]> = [
    ['malformed JSON', '{"type":"join",', 'malformed-json'],
    ['not an object', '[1,2,3]', 'invalid-field'],
    ['unknown type', '{"type":"teleport"}', 'unknown-type'],
    ['wrong field types', JSON.stringify({ type: 'join', protocol: 1, room: 'room', peer: { id: 7, incarnation: 'x' } }), 'invalid-field'],
    ['bad weight', JSON.stringify({ type: 'join', protocol: 1, room: 'room', peer: peer('z', { weight: -1 }) }), 'invalid-field'],
    ['__proto__ key', '{"type":"join","protocol":1,"room":"room","peer":{"__proto__":{"admin":true},"id":"z"}}', 'forbidden-key'],
    ['constructor key in data', '{"type":"signal","to":"a","data":{"constructor":{"prototype":1}}}', 'forbidden-key'],
    ['non-finite number', '{"type":"signal","to":"a","data":1e999}', 'non-finite-number'],
    ['signal before join', '{"type":"signal","to":"a","data":1}', 'not-joined'],
    ['binary frame', Buffer.from('{"type":"ping"}'), 'not-text'],
  ];

  it.each(cases)('%s: error + close 1008 for that socket only', async (_name, frame, code) => {
    const server = await start();
    const a = await join(server, 'room', peer('a'));
    const b = await join(server, 'room', peer('b'));
    const bad = await open(server);
    bad.send(frame);
    const err = await bad.next('error');
    expect(err.code).toBe(code);
    expect(err.message.length).toBeGreaterThan(0);
    expect((await bad.closed).code).toBe(1008);
    await relays(a, b, 'b', 'a');
    expect(({} as Record<string, unknown>)['admin']).toBeUndefined();
  });

  it('a bad frame from a member removes only that member', async () => {
    const server = await start();
    const a = await join(server, 'room', peer('a'));
    const b = await join(server, 'room', peer('b'));
    const bad = await join(server, 'room', peer('bad'));
    bad.send('{"type":"capabilities","capabilities":"all"}');
    expect((await bad.next('error')).code).toBe('invalid-field');
    expect((await bad.closed).code).toBe(1008);
    await a.next('view', (v) => ids(v).join() === 'a,b');
    await relays(b, a, 'a', 'b');
  });

  it('oversized frame (> 64 KiB): close 1009, others unaffected', async () => {
    const server = await start();
    const a = await join(server, 'room', peer('a'));
    const b = await join(server, 'room', peer('b'));
    const big = await join(server, 'room', peer('big'));
    big.send({ type: 'signal', to: 'a', data: 'x'.repeat(70_000) });
    expect((await big.closed).code).toBe(1009);
    await a.next('view', (v) => ids(v).join() === 'a,b');
    expect(a.received.filter((m) => m.type === 'signal')).toEqual([]);
    await relays(a, b, 'b', 'a');
    // Exactly at the limit is fine.
    const frame = JSON.stringify({ type: 'signal', to: 'b', data: '' });
    const fits = JSON.stringify({ type: 'signal', to: 'b', data: 'y'.repeat(65536 - frame.length) });
    expect(Buffer.byteLength(fits)).toBe(65536);
    a.send(fits);
    expect(((await b.next('signal')).data as string).length).toBe(65536 - frame.length);
  });
});

describe('signaling server: authentication and limits', () => {
  const secret = 'server-test-secret-of-32-bytes-or-more';
  const token = (room: string, p: string, capabilities?: string[], ttl: number | null = 3600): Promise<string> =>
    mintRoomToken({ secret, room, peer: p, ttl, ...(capabilities === undefined ? {} : { capabilities }) });
  const joinWith = async (server: SignalingServer, room: string, p: PeerInfo, tok: string | undefined, options: ClientOptions = {}): Promise<Raw> => {
    const raw = await Raw.open(server.url, options);
    sockets.push(raw);
    raw.send({ type: 'join', protocol: PROTOCOL_VERSION, room, peer: p, ...(tok === undefined ? {} : { token: tok }) });
    return raw;
  };
  /** The socket is refused with `code` and close 1008, and never listed in a room. */
  const refusedWith = async (raw: Raw, code: string, server: SignalingServer, id: string): Promise<string> => {
    const err = await raw.next('error');
    expect(err.code).toBe(code);
    const closed = await raw.closed;
    expect(closed).toEqual({ code: 1008, reason: code });
    expect(raw.history.filter((m) => m.type === 'welcome' || m.type === 'view')).toEqual([]);
    expect(server.rooms().flatMap((r) => r.peers.map((p) => p.id))).not.toContain(id);
    return err.message;
  };

  it('admits a peer with a valid token, and refuses missing, forged, expired and mismatched tokens with 1008', async () => {
    const server = await start({ auth: { secret } });
    expect(server.authenticated).toBe(true);
    const a = await joinWith(server, 'room', peer('a', { capabilities: ['game'] }), await token('room', 'a', ['game']));
    await a.next('welcome');
    await a.next('view', (v) => ids(v).includes('a'));

    expect(await refusedWith(await joinWith(server, 'room', peer('b'), undefined), 'token-missing', server, 'b')).toMatch(/needs a token/);
    const forged = await mintRoomToken({ secret: 'some-other-secret-that-is-32-bytes!', room: 'room', peer: 'b' });
    await refusedWith(await joinWith(server, 'room', peer('b'), forged), 'token-invalid', server, 'b');
    const expired = await mintRoomToken({ secret, room: 'room', peer: 'b', ttl: 1, now: Date.now() - 3_600_000 });
    expect(await refusedWith(await joinWith(server, 'room', peer('b'), expired), 'token-expired', server, 'b')).toMatch(/expired at/);
    await refusedWith(await joinWith(server, 'room', peer('b'), await token('room', 'a')), 'peer-mismatch', server, 'b');
    await refusedWith(await joinWith(server, 'room', peer('b'), await token('other', 'b')), 'room-mismatch', server, 'b');
    expect(await refusedWith(await joinWith(server, 'room', peer('b', { capabilities: ['admin', 'game'] }), await token('room', 'b', ['game'])), 'capability-not-granted', server, 'b')).toMatch(/"admin"/);
    // Someone else's token cannot take over their id either (not even with a higher incarnation).
    await refusedWith(await joinWith(server, 'room', peer('a', { incarnation: 9 }), await token('room', 'b')), 'peer-mismatch', server, 'zzz');
    expect(server.rooms()[0]!.peers.map((p) => p.id)).toEqual(['a']);
    // The admitted peer saw none of it.
    expect(a.views().at(-1)!.peers.map((p) => p.id)).toEqual(['a']);
    expect(a.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('refuses a later capability update the token does not grant, removing only that peer', async () => {
    const server = await start({ auth: { secret } });
    const a = await joinWith(server, 'room', peer('a'), await token('room', 'a', ['game', 'chat']));
    await a.next('view', (v) => ids(v).includes('a'));
    const b = await joinWith(server, 'room', peer('b'), await token('room', 'b'));
    await b.next('view', (v) => ids(v).join() === 'a,b');
    a.send({ type: 'capabilities', capabilities: ['chat'] });
    await b.next('view', (v) => v.peers.find((p) => p.id === 'a')?.capabilities.join() === 'chat');
    a.send({ type: 'capabilities', capabilities: ['chat', 'admin'] });
    expect((await a.next('error')).code).toBe('capability-not-granted');
    expect((await a.closed).code).toBe(1008);
    await b.next('view', (v) => ids(v).join() === 'b');
    // b's token grants everything (no caps claim).
    b.send({ type: 'capabilities', capabilities: ['admin'] });
    await b.next('view', (v) => v.peers[0]!.capabilities.join() === 'admin');
  });

  it('processes messages sent right behind the join once the token is verified', async () => {
    const server = await start({ auth: { secret } });
    const a = await joinWith(server, 'room', peer('a'), await token('room', 'a'));
    await a.next('view', (v) => ids(v).includes('a'));
    const raw = await Raw.open(server.url);
    sockets.push(raw);
    raw.ws.send(JSON.stringify({ type: 'join', protocol: PROTOCOL_VERSION, room: 'room', peer: peer('b'), token: await token('room', 'b') }));
    raw.ws.send(JSON.stringify({ type: 'capabilities', capabilities: ['chat'] }));
    raw.ws.send(JSON.stringify({ type: 'signal', to: 'a', data: 'right behind' }));
    expect(await a.next('signal')).toEqual({ type: 'signal', from: 'b', data: 'right behind' });
    await a.next('view', (v) => v.peers.find((p) => p.id === 'b')?.capabilities.join() === 'chat');
  });

  it('leaves rooms the auth predicate does not protect open', async () => {
    const server = await start({ auth: { secret, protects: (room) => room.startsWith('private-') } });
    const open = await joinWith(server, 'lobby', peer('a'), undefined);
    await open.next('welcome');
    await refusedWith(await joinWith(server, 'private-1', peer('b'), undefined), 'token-missing', server, 'b');
    const b = await joinWith(server, 'private-1', peer('b'), await token('private-1', 'b'));
    await b.next('welcome');
  });

  it('refuses browsers from origins outside the allow-list, before any join', async () => {
    const server = await start({ allowedOrigins: ['https://app.example', 'http://127.0.0.1:5173/'] });
    const evil = await Raw.open(server.url, { origin: 'https://evil.example' });
    sockets.push(evil);
    const err = await evil.next('error');
    expect(err).toMatchObject({ code: 'origin-not-allowed' });
    expect(err.message).toContain('https://evil.example');
    expect((await evil.closed).code).toBe(1008);
    // Listed origins (compared without case and trailing slash) and clients that send no Origin are admitted.
    await join(server, 'room', peer('a'), { origin: 'HTTPS://APP.example' });
    await join(server, 'room', peer('b'), { origin: 'http://127.0.0.1:5173' });
    await join(server, 'room', peer('c'));
    const strict = await start({ allowedOrigins: ['https://app.example'], requireOrigin: true });
    const bare = await Raw.open(strict.url);
    sockets.push(bare);
    expect((await bare.next('error')).code).toBe('origin-not-allowed');
  });

  it('closes a connection that exceeds its message rate, and only that one', async () => {
    const server = await start({ rateLimit: { perSecond: 20, burst: 40 } });
    const a = await join(server, 'room', peer('a'));
    const b = await join(server, 'room', peer('b'));
    const flood = await join(server, 'room', peer('flood'));
    for (let i = 0; i < 100; i++) flood.ws.send(JSON.stringify({ type: 'signal', to: 'a', data: i }));
    expect((await flood.next('error')).code).toBe('rate-limited');
    expect((await flood.closed).code).toBe(1008);
    await a.next('view', (v) => ids(v).join() === 'a,b');
    // About the burst got through (plus what refilled meanwhile), never the whole flood; a steady sender within the rate is never cut.
    const relayed = a.history.filter((m) => m.type === 'signal').length;
    expect(relayed).toBeGreaterThanOrEqual(39);
    expect(relayed).toBeLessThan(100);
    for (let i = 0; i < 30; i++) {
      b.send({ type: 'signal', to: 'a', data: `steady ${i}` });
      await new Promise((r) => setTimeout(r, 60));
    }
    await a.next('signal', (m) => m.data === 'steady 29');
    expect(b.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('bounds what a socket may send while its join is being verified', async () => {
    const server = await start({ auth: { secret }, maxPendingMessages: 4, rateLimit: false });
    const raw = await Raw.open(server.url);
    sockets.push(raw);
    raw.ws.send(JSON.stringify({ type: 'join', protocol: PROTOCOL_VERSION, room: 'room', peer: peer('b'), token: await token('room', 'b') }));
    for (let i = 0; i < 50; i++) raw.ws.send(JSON.stringify({ type: 'ping' }));
    expect((await raw.next('error')).code).toBe('rate-limited');
    expect((await raw.closed).code).toBe(1008);
  });
});

describe('signaling server: operations', () => {
  it('answers GET /health with JSON and 404 elsewhere', async () => {
    const server = await start();
    const health = async (): Promise<unknown> => {
      const res = await fetch(`http://127.0.0.1:${server.port}/health`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json');
      return res.json();
    };
    expect(await health()).toEqual({ ok: true, rooms: 0, peers: 0 });
    await join(server, 'r1', peer('a'));
    await join(server, 'r1', peer('b'));
    await join(server, 'r2', peer('c'));
    expect(await health()).toEqual({ ok: true, rooms: 2, peers: 3 });
    expect((await fetch(`http://127.0.0.1:${server.port}/nope`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${server.port}/health`, { method: 'POST' })).status).toBe(405);
  });

  it('writes structured logs through the injected logger', async () => {
    const records: LogRecord[] = [];
    const server = await start({ logger: (r) => records.push(r) });
    const a = await join(server, 'room', peer('a'));
    a.send('nonsense');
    await a.closed;
    await server.close();
    const events = records.map((r) => r.event);
    expect(events).toEqual(expect.arrayContaining(['listening', 'room-opened', 'peer-joined', 'refused', 'peer-left', 'closed']));
    for (const r of records) expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    expect(records.find((r) => r.event === 'refused')).toMatchObject({ level: 'warn', code: 'malformed-json' });

    const lines: string[] = [];
    const log = jsonLinesLogger({ write: (l) => lines.push(l), level: 'info' });
    log({ level: 'debug', event: 'hidden' });
    log({ level: 'info', event: 'shown', n: 1 });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('\n')).toBe(true);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', event: 'shown', n: 1 });
  });

  it('close() ends sessions with 1001, is idempotent, and frees the port', async () => {
    const server = await start({ stun: {} });
    expect(server.stunPort).toBeGreaterThan(0);
    const a = await join(server, 'room', peer('a'));
    await Promise.all([server.close(), server.close()]);
    expect((await a.closed).code).toBe(1001);
    const again = await start({ port: server.port, stun: { port: server.stunPort! } });
    expect(again.port).toBe(server.port);
    expect(again.stunPort).toBe(server.stunPort);
    expect(again.epoch).not.toBe(server.epoch);
  });
});
