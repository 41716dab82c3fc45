/**
 * Browser peer identity. A tab keeps its peer id across reloads, and two tabs of one origin never share one:
 * ids live in a pool (in IndexedDB through idb-keyval), and a tab owns an id only while it holds the Web Lock
 * named after it. The lock is released when the tab closes or reloads, so the reloaded page takes the same id
 * again (it prefers the id remembered in its own `sessionStorage`). Pool changes happen under a pool lock, so
 * two tabs starting at once cannot both take or both create the same id.
 */
import { get as idbGet, set as idbSet, createStore, type UseStore } from 'idb-keyval';
import { meshError } from '../errors.js';
import { cryptoRandom, randomId, type Random } from '../random.js';

/** The part of the Web Locks API used here (`navigator.locks`). */
export interface LockManagerLike {
  request(name: string, options: { ifAvailable?: boolean; mode?: 'exclusive' | 'shared' }, callback: (lock: unknown) => Promise<unknown> | unknown): Promise<unknown>;
}

/** Where the id pool is kept. */
export interface IdPoolStorage {
  get(): Promise<string[] | undefined>;
  set(ids: string[]): Promise<void>;
}

/** Options of {@link claimBrowserPeerId}. */
export interface ClaimOptions {
  /** Namespace of locks, storage keys and ids (default `'meshrtc'`). */
  prefix?: string;
  locks?: LockManagerLike;
  pool?: IdPoolStorage;
  /** Per-tab storage surviving reloads (default `sessionStorage`). */
  session?: Pick<Storage, 'getItem' | 'setItem'> | undefined;
  random?: Random;
}

/** A claimed peer id; `release()` gives it up (the page unloading does too). */
export interface ClaimedPeerId {
  readonly peerId: string;
  release(): void;
}

/** The default pool: a key in its own IndexedDB database. */
export function idbIdPool(prefix = 'meshrtc'): IdPoolStorage {
  let store: UseStore | undefined;
  const s = (): UseStore => (store ??= createStore(`${prefix}-identity`, 'ids'));
  return {
    get: async () => (await idbGet<string[]>('peer-ids', s())) ?? undefined,
    set: (ids) => idbSet('peer-ids', ids, s()),
  };
}

/** Claims a peer id for this tab (see the module comment). */
export async function claimBrowserPeerId(options: ClaimOptions = {}): Promise<ClaimedPeerId> {
  const prefix = options.prefix ?? 'meshrtc';
  const locks = options.locks ?? (globalThis.navigator as { locks?: LockManagerLike } | undefined)?.locks;
  if (locks === undefined) throw meshError('InvalidArgument', 'the Web Locks API (navigator.locks) is not available; pass a peerId');
  const pool = options.pool ?? idbIdPool(prefix);
  const session = options.session ?? (globalThis as { sessionStorage?: Storage }).sessionStorage;
  const random = options.random ?? cryptoRandom;
  const sessionKey = `${prefix}-peer-id`;

  /** Tries to take the lock of `id`; resolves with a release function, or undefined when another tab has it. */
  const tryHold = (id: string): Promise<(() => void) | undefined> =>
    new Promise((resolveClaim) => {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      void locks.request(`${prefix}:peer:${id}`, { ifAvailable: true }, (lock) => {
        if (lock === null) {
          resolveClaim(undefined);
          return undefined;
        }
        resolveClaim(release);
        return held; // kept until release() or the page goes away
      });
    });

  let claimed: ClaimedPeerId | undefined;
  await locks.request(`${prefix}:pool`, { mode: 'exclusive' }, async () => {
    const ids = (await pool.get()) ?? [];
    const preferred = session?.getItem(sessionKey) ?? undefined;
    const order = preferred !== undefined && preferred !== null && ids.includes(preferred) ? [preferred, ...ids.filter((i) => i !== preferred)] : ids;
    for (const id of order) {
      const release = await tryHold(id);
      if (release !== undefined) {
        claimed = { peerId: id, release };
        break;
      }
    }
    if (claimed === undefined) {
      const id = `${prefix}-${randomId(random, 12)}`;
      await pool.set([...ids, id]);
      const release = await tryHold(id);
      if (release === undefined) throw meshError('SignalingError', `could not lock the new peer id ${id}`);
      claimed = { peerId: id, release };
    }
  });
  session?.setItem(sessionKey, claimed!.peerId);
  return claimed!;
}
