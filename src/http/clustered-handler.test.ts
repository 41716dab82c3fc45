/** Clustered HTTP in the simulation: routing by key, request keys and dedupe, limits, streaming, Hono. */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { Mesh } from '../actors/mesh.js';
import { createSimulation, type Simulation } from '../testing/index.js';
import { clusteredHandler, PEER_HEADER, REPLAYED_HEADER, REQUEST_KEY_HEADER, type ClusteredHandler, type FetchHandler } from './clustered-handler.js';

async function settle<T>(sim: Simulation, p: Promise<T>, maxMs = 30_000): Promise<T> {
  let out: PromiseSettledResult<T> | undefined;
  p.then((value) => (out = { status: 'fulfilled', value }), (reason: unknown) => (out = { status: 'rejected', reason }));
  await sim.clock.advanceUntil(() => out !== undefined, maxMs, 1);
  if (out === undefined) throw new Error('did not settle (hang)');
  if (out.status === 'rejected') throw out.reason;
  return out.value;
}

const userOf = (req: Request): string => new URL(req.url).pathname.split('/')[2] ?? '';

interface Served {
  runs: Map<string, number>;
}

/** The handler every peer registers: tells who ran it; `/users/:id/big?kb=N` streams N KiB in 1 KiB parts. */
function makeHandler(sim: Simulation, mesh: Mesh, served: Served): FetchHandler {
  return async (req) => {
    served.runs.set(mesh.peerId, (served.runs.get(mesh.peerId) ?? 0) + 1);
    const url = new URL(req.url);
    if (url.pathname.endsWith('/big')) {
      const kb = Number(url.searchParams.get('kb') ?? '1');
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (sent === kb) {
            controller.close();
            return;
          }
          await new Promise<void>((r) => sim.clock.setTimeout(r, 1));
          controller.enqueue(new Uint8Array(1024).fill(sent % 251));
          sent++;
        },
      });
      return new Response(body, { headers: { 'content-type': 'application/octet-stream' } });
    }
    const text = req.method === 'POST' ? await req.text() : '';
    return Response.json({ user: userOf(req), ranOn: req.headers.get(PEER_HEADER), key: req.headers.get(REQUEST_KEY_HEADER), body: text }, { status: req.method === 'POST' ? 201 : 200 });
  };
}

async function room(seed: number, options: { maxBodyBytes?: number; maxStoredBytes?: number } = {}) {
  const sim = createSimulation({ seed, actors: [], latencyMs: [1, 3], detectMs: 1000, livenessMs: 200 });
  const served: Served = { runs: new Map() };
  const handlers = new Map<string, ClusteredHandler>();
  const add = async (id: string, caps: string[]): Promise<ClusteredHandler> => {
    const mesh = await sim.addPeer(id, caps);
    const h = clusteredHandler(makeHandler(sim, mesh, served), { mesh, capability: 'http', key: userOf, clock: sim.clock, random: sim.random, chunkBytes: 16 * 1024, ...options });
    handlers.set(id, h);
    return h;
  };
  for (const id of ['a', 'b', 'c']) await add(id, ['http']);
  const entry = await add('entry', []);
  await sim.converge();
  return { sim, served, entry, add, handlers };
}

describe('clusteredHandler (simulation)', () => {
  it('runs each request on the owner of its key, with the request key and the executor in the response', async () => {
    const { sim, entry } = await room(91);
    try {
      const mesh = sim.peers.get('entry')!;
      for (const user of ['ada', 'bob', 'cy', 'dee', 'eve', 'fay']) {
        const res = await settle(sim, entry(new Request(`http://edge.test/users/${user}/hello`)));
        const owner = mesh.ownerOf('http', user);
        expect(res.status).toBe(200);
        expect(res.headers.get(PEER_HEADER)).toBe(owner);
        const key = res.headers.get(REQUEST_KEY_HEADER);
        expect(key).toMatch(/^[a-z0-9]{20}$/);
        expect(await settle(sim, res.json())).toEqual({ user, ranOn: owner, key, body: '' });
      }
    } finally {
      await sim.close();
    }
  });

  it('answers a retried request key from the table, refuses it for another request, and limits bodies', async () => {
    const { sim, entry, served } = await room(92, { maxBodyBytes: 1000 });
    try {
      const post = (key: string, body: string): Request =>
        new Request('http://edge.test/users/ada/orders', { method: 'POST', headers: { [REQUEST_KEY_HEADER]: key }, body });
      const first = await settle(sim, entry(post('order-1', 'two apples')));
      expect(first.status).toBe(201);
      expect(first.headers.get(REPLAYED_HEADER)).toBeNull();
      const firstBody = await settle(sim, first.json());
      const runs = [...served.runs.values()].reduce((a, b) => a + b, 0);
      const retry = await settle(sim, entry(post('order-1', 'two apples')));
      expect(retry.status).toBe(201);
      expect(retry.headers.get(REPLAYED_HEADER)).toBe('1');
      expect(retry.headers.get(REQUEST_KEY_HEADER)).toBe('order-1');
      expect(await settle(sim, retry.json())).toEqual(firstBody);
      expect([...served.runs.values()].reduce((a, b) => a + b, 0)).toBe(runs); // the handler did not run again

      const other = await settle(sim, entry(post('order-1', 'three pears')));
      expect(other.status).toBe(409);
      expect((await settle(sim, other.json())) as unknown).toMatchObject({ error: { code: 'Conflict' } });

      // Two requests with one key at once: one run.
      const [x, y] = await settle(sim, Promise.all([entry(post('order-2', 'x')), entry(post('order-2', 'x'))]));
      expect([x.headers.get(REPLAYED_HEADER), y.headers.get(REPLAYED_HEADER)].sort()).toEqual(['1', null].sort());
      expect([...served.runs.values()].reduce((a, b) => a + b, 0)).toBe(runs + 1);

      const big = await settle(sim, entry(post('order-3', 'x'.repeat(1001))));
      expect(big.status).toBe(413);
      expect(big.headers.get(REQUEST_KEY_HEADER)).toBe('order-3');
      expect(await settle(sim, big.json())).toMatchObject({ error: { code: 'PayloadTooLarge' } });
      // Without a declared length: counted while read.
      const chunks = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < 3; i++) c.enqueue(new Uint8Array(400));
          c.close();
        },
      });
      const streamed = await settle(sim, entry(new Request('http://edge.test/users/ada/orders', { method: 'POST', body: chunks, duplex: 'half' } as RequestInit)));
      expect(streamed.status).toBe(413);
      const badKey = await settle(sim, entry(new Request('http://edge.test/users/ada/x', { headers: { [REQUEST_KEY_HEADER]: 'has space' } })));
      expect(badKey.status).toBe(400);
      const noRoute = await settle(sim, entry(new Request('http://edge.test/')));
      expect(noRoute.status).toBe(400);
    } finally {
      await sim.close();
    }
  });

  it('streams a large response in bounded chunks; too large to keep, its key is refused on retry', async () => {
    const { sim, entry } = await room(93, { maxStoredBytes: 64 * 1024 });
    try {
      const res = await settle(sim, entry(new Request('http://edge.test/users/bob/big?kb=300', { headers: { [REQUEST_KEY_HEADER]: 'dl-1' } })));
      expect(res.status).toBe(200);
      expect(res.headers.get(PEER_HEADER)).toBe(sim.peers.get('entry')!.ownerOf('http', 'bob'));
      const reader = res.body!.getReader();
      const sizes: number[] = [];
      let total = 0;
      let wrong = 0;
      for (;;) {
        const r = await settle(sim, reader.read());
        if (r.done) break;
        sizes.push(r.value.byteLength);
        for (let i = 0; i < r.value.byteLength; i++) if (r.value[i] !== Math.floor((total + i) / 1024) % 251) wrong++;
        total += r.value.byteLength;
      }
      expect(total).toBe(300 * 1024);
      expect(wrong).toBe(0);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(16 * 1024);
      const retry = await settle(sim, entry(new Request('http://edge.test/users/bob/big?kb=300', { headers: { [REQUEST_KEY_HEADER]: 'dl-1' } })));
      expect(retry.status).toBe(409);
      expect(await settle(sim, retry.text())).toContain('larger than 65536 bytes');

      // A small streamed response is kept and replayed whole.
      const small = await settle(sim, entry(new Request('http://edge.test/users/bob/big?kb=40', { headers: { [REQUEST_KEY_HEADER]: 'dl-2' } })));
      const bytes = new Uint8Array(await settle(sim, small.arrayBuffer()));
      const again = await settle(sim, entry(new Request('http://edge.test/users/bob/big?kb=40', { headers: { [REQUEST_KEY_HEADER]: 'dl-2' } })));
      expect(again.headers.get(REPLAYED_HEADER)).toBe('1');
      expect(new Uint8Array(await settle(sim, again.arrayBuffer()))).toEqual(bytes);
    } finally {
      await sim.close();
    }
  });

  it('closes the executor stream when the client cancels, or stops reading for streamIdleMs', async () => {
    const { sim, entry, handlers } = await room(94);
    try {
      const owner = sim.peers.get('entry')!.ownerOf('http', 'cy')!;
      const res = await settle(sim, entry(new Request('http://edge.test/users/cy/big?kb=500')));
      expect(handlers.get(owner)!.stats().openStreams).toBe(1);
      const reader = res.body!.getReader();
      await settle(sim, reader.read());
      await settle(sim, reader.cancel());
      await sim.advance(50);
      expect(handlers.get(owner)!.stats().openStreams).toBe(0);
      const idle = await settle(sim, entry(new Request('http://edge.test/users/cy/big?kb=500')));
      await settle(sim, idle.body!.getReader().read());
      expect(handlers.get(owner)!.stats().openStreams).toBe(1);
      await sim.advance(29_000);
      expect(handlers.get(owner)!.stats().openStreams).toBe(1);
      await sim.advance(17_000); // idle 30 s, swept every 15 s
      expect(handlers.get(owner)!.stats().openStreams).toBe(0);
      // A new request for the same user still works (the executor is not stuck).
      const next = await settle(sim, entry(new Request('http://edge.test/users/cy/hello')));
      expect(next.status).toBe(200);
    } finally {
      await sim.close();
    }
  });

  it('retries on the next owner when the executor crashes before answering; 503 when nobody serves', async () => {
    const sim = createSimulation({ seed: 95, actors: [], latencyMs: [1, 3], detectMs: 1000, livenessMs: 200 });
    try {
      const started: string[] = [];
      const add = async (id: string, caps: string[]) => {
        const mesh = await sim.addPeer(id, caps);
        return clusteredHandler(
          async (req) => {
            started.push(mesh.peerId);
            await new Promise<void>((r) => sim.clock.setTimeout(r, 300));
            return new Response(`done by ${mesh.peerId} for ${req.headers.get(REQUEST_KEY_HEADER)}`);
          },
          { mesh, capability: 'http', key: userOf, clock: sim.clock, random: sim.random },
        );
      };
      for (const id of ['a', 'b', 'c']) await add(id, ['http']);
      const entry = await add('entry', []);
      await sim.converge();
      const owner = sim.peers.get('entry')!.ownerOf('http', 'dee')!;
      const pending = entry(new Request('http://edge.test/users/dee/slow', { headers: { [REQUEST_KEY_HEADER]: 'slow-1' } }));
      await sim.clock.advanceUntil(() => started.length === 1, 5000, 1);
      await sim.crashPeer(owner);
      const res = await settle(sim, pending);
      expect(res.status).toBe(200);
      const by = res.headers.get(PEER_HEADER)!;
      expect(by).not.toBe(owner);
      expect(await settle(sim, res.text())).toBe(`done by ${by} for slow-1`);

      const lonely = createSimulation({ seed: 96, actors: [] });
      try {
        const m = await lonely.addPeer('solo', []);
        await lonely.addPeer('server', ['http']); // serves the capability but never registered the handler
        await lonely.converge();
        const h = clusteredHandler(() => new Response('x'), { mesh: m, capability: 'http', key: userOf, clock: lonely.clock });
        const r = await settle(lonely, h(new Request('http://edge.test/users/x/y')));
        expect(r.status).toBe(503);
        expect(await settle(lonely, r.json())).toMatchObject({ error: { code: 'UnknownFunction' } });
      } finally {
        await lonely.close();
      }
    } finally {
      await sim.close();
    }
  });

  it('wraps a Hono app, and serves as a Hono route', async () => {
    const sim = createSimulation({ seed: 97, actors: [], latencyMs: [1, 3] });
    try {
      const make = async (id: string, caps: string[]) => {
        const mesh = await sim.addPeer(id, caps);
        const api = new Hono();
        api.get('/users/:id/profile', (c) => c.json({ id: c.req.param('id'), on: mesh.peerId }));
        api.post('/users/:id/echo', async (c) => c.text(await c.req.text(), 202));
        const clustered = clusteredHandler(api.fetch, { mesh, capability: 'api', key: userOf, name: 'api', clock: sim.clock, random: sim.random });
        const front = new Hono();
        front.get('/health', (c) => c.text('ok'));
        front.all('/users/*', (c) => clustered(c.req.raw));
        return { mesh, front };
      };
      await make('a', ['api']);
      await make('b', ['api']);
      const { mesh, front } = await make('edge', []);
      await sim.converge();
      expect(await settle(sim, Promise.resolve(front.fetch(new Request('http://edge.test/health'))).then((r) => r.text()))).toBe('ok');
      for (const user of ['u1', 'u2', 'u3', 'u4']) {
        const res = await settle(sim, Promise.resolve(front.fetch(new Request(`http://edge.test/users/${user}/profile`))));
        expect(res.headers.get(PEER_HEADER)).toBe(mesh.ownerOf('api', user));
        expect(await settle(sim, res.json())).toEqual({ id: user, on: mesh.ownerOf('api', user) });
      }
      const echo = await settle(sim, Promise.resolve(front.fetch(new Request('http://edge.test/users/u9/echo', { method: 'POST', body: 'hello hono' }))));
      expect(echo.status).toBe(202);
      expect(await settle(sim, echo.text())).toBe('hello hono');
    } finally {
      await sim.close();
    }
  });
});
