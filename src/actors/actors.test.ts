import { describe, expect, it } from 'vitest';
import { createMesh, defineActor, isMeshError, type Mesh } from '../index.js';
import { SimulatedClock } from '../clock/simulated.js';

const Counter = defineActor({
  type: 'counter',
  initialState: () => ({ count: 0 }),
  handlers: {
    add: (state, by: number) => (state.count += by),
    get: (state) => state.count,
    fail: () => {
      throw new Error('boom');
    },
    slow: async (state, ms: number, ctx) => {
      await new Promise((r) => setTimeout(r, ms));
      return ctx.address.id;
    },
  },
});

async function single(extra: Partial<Parameters<typeof createMesh>[0]> = {}): Promise<Mesh> {
  return createMesh({ peerId: 'p1', capabilities: ['game'], actors: [Counter], ...extra });
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isMeshError(e)) return e.code;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe('actor runtime (single peer)', () => {
  it('activates lazily, keeps state, and reports the serving peer', async () => {
    const mesh = await single();
    const addr = { capability: 'game', type: 'counter', id: 'c1' } as const;
    expect(mesh.activeActors()).toHaveLength(0);
    const r1 = await mesh.call({ ...addr, payload: { op: 'add', arg: 2 } });
    expect(r1).toEqual({ reply: 2, peerId: 'p1' });
    expect((await mesh.call({ ...addr, payload: { op: 'add', arg: 3 } })).reply).toBe(5);
    expect(mesh.activeActors()).toEqual([addr]);
    const ref = mesh.ref(Counter, { capability: 'game', id: 'c1' });
    const n: number = await ref.call('get');
    expect(n).toBe(5);
    await mesh.close();
  });

  it('shares one activation between concurrent first calls, and resets a failed activation', async () => {
    let activations = 0;
    let failNext = true;
    const Lazy = defineActor({
      type: 'lazy',
      initialState: () => ({ hits: 0 }),
      onActivate: async () => {
        activations++;
        await Promise.resolve();
        if (failNext) {
          failNext = false;
          throw new Error('disk not ready');
        }
      },
      handlers: { hit: (s) => ++s.hits },
    });
    const mesh = await createMesh({ capabilities: ['x'], actors: [Lazy] });
    const req = { capability: 'x', type: 'lazy', id: 'a', payload: { op: 'hit' } };
    const first = await Promise.allSettled([mesh.call(req), mesh.call(req), mesh.call(req)]);
    expect(activations).toBe(1);
    for (const r of first) {
      expect(r.status).toBe('rejected');
      expect(isMeshError((r as PromiseRejectedResult).reason, 'ActivationFailed')).toBe(true);
    }
    const second = await Promise.all([mesh.call(req), mesh.call(req), mesh.call(req)]);
    expect(activations).toBe(2);
    expect(second.map((r) => r.reply)).toEqual([1, 2, 3]);
    await mesh.close();
  });

  it('runs one message at a time per actor, in order, and a slow actor does not stall another', async () => {
    const log: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const Seq = defineActor({
      type: 'seq',
      initialState: () => ({ items: [] as number[] }),
      handlers: {
        push: async (s, n: number, ctx) => {
          log.push(`start ${ctx.address.id}:${n}`);
          if (ctx.address.id === 'slow' && n === 0) await gate;
          await Promise.resolve();
          s.items.push(n);
          log.push(`end ${ctx.address.id}:${n}`);
          return [...s.items];
        },
      },
    });
    const mesh = await createMesh({ capabilities: ['x'], actors: [Seq] });
    const slow = [0, 1, 2].map((n) => mesh.call({ capability: 'x', type: 'seq', id: 'slow', payload: { op: 'push', arg: n } }));
    const fast = await mesh.call({ capability: 'x', type: 'seq', id: 'fast', payload: { op: 'push', arg: 9 } });
    expect(fast.reply).toEqual([9]);
    expect(log.filter((l) => l.includes('slow'))).toEqual(['start slow:0']);
    release();
    const replies = await Promise.all(slow);
    expect(replies.map((r) => r.reply)).toEqual([[0], [0, 1], [0, 1, 2]]);
    expect(log.filter((l) => l.includes('slow'))).toEqual([
      'start slow:0', 'end slow:0', 'start slow:1', 'end slow:1', 'start slow:2', 'end slow:2',
    ]);
    await mesh.close();
  });

  it('passivates idle actors on the injected clock, running onDeactivate', async () => {
    const clock = new SimulatedClock();
    const deactivated: string[] = [];
    const Idle = defineActor({
      type: 'idle',
      idleTimeoutMs: 1000,
      initialState: () => ({ n: 0 }),
      onDeactivate: (ctx) => void deactivated.push(ctx.address.id),
      handlers: { inc: (s) => ++s.n },
    });
    const mesh = await createMesh({ capabilities: ['x'], actors: [Idle], clock });
    const call = (id: string) => mesh.call({ capability: 'x', type: 'idle', id, payload: { op: 'inc' } });
    await call('a');
    await call('b');
    await clock.advance(600);
    await call('b'); // keeps b busy-ish
    await clock.advance(600);
    expect(deactivated).toEqual(['a']);
    expect(mesh.activeActors().map((a) => a.id)).toEqual(['b']);
    await clock.advance(2000);
    expect(deactivated.sort()).toEqual(['a', 'b']);
    expect((await call('a')).reply).toBe(1); // fresh activation, fresh state
    await mesh.close();
  });

  it('turns handler errors into typed errors and keeps the actor and its neighbours running', async () => {
    const mesh = await single();
    const errors: string[] = [];
    mesh.on('handler:error', (e) => errors.push(e.error.message));
    await mesh.call({ capability: 'game', type: 'counter', id: 'c', payload: { op: 'add', arg: 1 } });
    const err = await mesh.call({ capability: 'game', type: 'counter', id: 'c', payload: { op: 'fail' } }).catch((e: unknown) => e);
    expect(isMeshError(err, 'HandlerFailed')).toBe(true);
    expect((err as Error).message).toContain('boom');
    expect(((err as Error).cause as Error).message).toBe('boom');
    expect(errors).toHaveLength(1);
    expect((await mesh.call({ capability: 'game', type: 'counter', id: 'c', payload: { op: 'get' } })).reply).toBe(1);
    await mesh.close();
  });

  it('rejects with typed errors: timeout, abort, unknown type, unknown handler, bad request, no peers', async () => {
    const mesh = await single();
    const at = { capability: 'game', type: 'counter', id: 't' };
    expect(await code(mesh.call({ ...at, payload: { op: 'slow', arg: 200 } }, { timeoutMs: 20 }))).toBe('Timeout');
    const ac = new AbortController();
    const p = mesh.call({ ...at, id: 't2', payload: { op: 'slow', arg: 200 } }, { signal: ac.signal });
    ac.abort();
    expect(await code(p)).toBe('Aborted');
    const pre = new AbortController();
    pre.abort();
    expect(await code(mesh.call({ ...at, payload: { op: 'get' } }, { signal: pre.signal }))).toBe('Aborted');
    expect(await code(mesh.call({ ...at, type: 'nope', payload: { op: 'get' } }))).toBe('UnknownActorType');
    expect(await code(mesh.call({ ...at, payload: { op: 'toString' } }))).toBe('UnknownHandler');
    expect(await code(mesh.call({ ...at, payload: { op: '__proto__' } }))).toBe('UnknownHandler');
    expect(await code(mesh.call({ ...at, id: '', payload: { op: 'get' } }))).toBe('InvalidArgument');
    expect(await code(mesh.call({ ...at, payload: undefined as never }))).toBe('InvalidArgument');
    expect(await code(mesh.call({ ...at, capability: 'chat', payload: { op: 'get' } }))).toBe('NoPeersForCapability');
    expect(() => mesh.cast({ ...at, capability: 'chat', payload: { op: 'get' } })).toThrow(/no live peer/);
    await mesh.close();
  });

  it('bounds each mailbox', async () => {
    const mesh = await single({ mailboxLimit: 3 });
    const at = { capability: 'game', type: 'counter', id: 'm' };
    const calls = Array.from({ length: 5 }, () => mesh.call({ ...at, payload: { op: 'slow', arg: 5 } }).then(() => 'ok', (e: unknown) => (isMeshError(e) ? e.code : 'other')));
    const results = await Promise.all(calls);
    expect(results.filter((r) => r === 'MailboxFull').length).toBeGreaterThan(0);
    expect(results.filter((r) => r === 'ok').length).toBeGreaterThanOrEqual(3);
    await mesh.close();
  });

  it('casts without waiting for the actor', async () => {
    const mesh = await single();
    const at = { capability: 'game', type: 'counter', id: 'k' };
    await mesh.call({ ...at, payload: { op: 'slow', arg: 1 } }); // activate
    let busyDone = false;
    const busy = mesh.call({ ...at, payload: { op: 'slow', arg: 50 } }).then(() => (busyDone = true));
    expect(mesh.cast({ ...at, payload: { op: 'add', arg: 7 } })).toBeUndefined();
    expect(busyDone).toBe(false); // cast returned while the actor was still busy with the earlier call
    await busy;
    expect((await mesh.call({ ...at, payload: { op: 'get' } })).reply).toBe(7);
    await mesh.close();
  });

  it('emits typed events for activation and completed calls', async () => {
    const mesh = await single();
    const seen: string[] = [];
    mesh.inspect((e) => seen.push(e.type));
    const done: boolean[] = [];
    mesh.on('call:completed', (e) => done.push(e.ok));
    await mesh.call({ capability: 'game', type: 'counter', id: 'e', payload: { op: 'add', arg: 1 } });
    await mesh.call({ capability: 'game', type: 'counter', id: 'e', payload: { op: 'fail' } }).catch(() => {});
    expect(seen).toContain('actor:activated');
    expect(seen).toContain('handler:error');
    expect(done).toEqual([true, false]);
    await mesh.close();
    expect(seen).toContain('actor:deactivated');
  });

  it('refuses calls after close with Closed', async () => {
    const mesh = await single();
    await mesh.close();
    expect(await code(mesh.call({ capability: 'game', type: 'counter', id: 'z', payload: { op: 'get' } }))).toBe('Closed');
  });
});
