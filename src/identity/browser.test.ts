import { describe, expect, it } from 'vitest';
import { seededRandom } from '../random.js';
import { claimBrowserPeerId, type LockManagerLike } from './browser.js';

/** An in-process model of the Web Locks API: exclusive locks, ifAvailable, queued waiters. */
class FakeLocks implements LockManagerLike {
  readonly held = new Set<string>();
  readonly #waiters = new Map<string, Array<() => void>>();
  async request(name: string, options: { ifAvailable?: boolean }, callback: (lock: unknown) => unknown): Promise<unknown> {
    if (this.held.has(name)) {
      if (options.ifAvailable === true) return callback(null);
      await new Promise<void>((r) => this.#waiters.set(name, [...(this.#waiters.get(name) ?? []), r]));
    }
    this.held.add(name);
    try {
      return await callback({ name });
    } finally {
      this.held.delete(name);
      const next = this.#waiters.get(name)?.shift();
      next?.();
    }
  }
}

function memoryPool() {
  let ids: string[] | undefined;
  return { get: async () => ids, set: async (v: string[]) => void (ids = v) };
}

function session() {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) };
}

describe('browser peer identity (Web Locks)', () => {
  it('gives two tabs different ids, and a reloaded tab its own id back', async () => {
    const locks = new FakeLocks();
    const pool = memoryPool();
    const random = seededRandom(1);
    const tabA = session();
    const tabB = session();
    const [a, b] = await Promise.all([
      claimBrowserPeerId({ locks, pool, session: tabA, random }),
      claimBrowserPeerId({ locks, pool, session: tabB, random }),
    ]);
    expect(a.peerId).not.toBe(b.peerId);
    expect((await pool.get())?.sort()).toEqual([a.peerId, b.peerId].sort());
    // Reload tab B: its page releases the lock; the new page (same sessionStorage) takes the same id.
    b.release();
    await Promise.resolve();
    const b2 = await claimBrowserPeerId({ locks, pool, session: tabB, random });
    expect(b2.peerId).toBe(b.peerId);
    // Reload tab A while B holds its id: A gets its own id back, not B's.
    a.release();
    await Promise.resolve();
    const a2 = await claimBrowserPeerId({ locks, pool, session: tabA, random });
    expect(a2.peerId).toBe(a.peerId);
    // A third tab gets a third id; after a tab closes for good, a new tab reuses its id.
    const c = await claimBrowserPeerId({ locks, pool, session: session(), random });
    expect(new Set([a2.peerId, b2.peerId, c.peerId]).size).toBe(3);
    c.release();
    await Promise.resolve();
    const d = await claimBrowserPeerId({ locks, pool, session: session(), random });
    expect(d.peerId).toBe(c.peerId);
  });

  it('refuses clearly without the Web Locks API', async () => {
    await expect(claimBrowserPeerId({ locks: undefined as never, pool: memoryPool(), session: session() }).catch((e: { code: string; message: string }) => `${e.code}: ${e.message}`)).resolves.toMatch(/InvalidArgument: the Web Locks API/);
  });
});
