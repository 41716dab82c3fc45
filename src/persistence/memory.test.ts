import { describe, expect, it } from 'vitest';
import { createMsgpackCodec } from '../codec/index.js';
import { isMeshError } from '../errors.js';
import { stateStoreContract } from '../testing/contracts/state-store.js';
import { stateKey } from './keys.js';
import { MemoryStateStore } from './memory.js';

stateStoreContract('MemoryStateStore', async () => {
  const store = new MemoryStateStore();
  return {
    store,
    // A quota equal to what is stored: every write that adds bytes is refused.
    simulateFull: () => store.setQuotaBytes(store.usedBytes),
    cleanup: async () => {},
  };
});

describe('MemoryStateStore', () => {
  const k = (id: string): string => stateKey({ capability: 'game', type: 'counter', id });

  it('enforces quotaBytes on stored bytes and frees them on delete', async () => {
    const store = new MemoryStateStore({ quotaBytes: 200 });
    await store.put(k('a'), { state: 'x'.repeat(50), version: 1, epoch: 1 });
    const used = store.usedBytes;
    expect(used).toBeGreaterThan(50);
    const err = await store.put(k('b'), { state: 'y'.repeat(150), version: 1, epoch: 1 }).catch((e: unknown) => e);
    expect(isMeshError(err, 'StorageFull')).toBe(true);
    expect(store.usedBytes).toBe(used);
    // Shrinking writes and deletes are allowed when full.
    await store.put(k('a'), { state: 'x', version: 2, epoch: 1 });
    await store.delete(k('a'));
    expect(store.usedBytes).toBe(0);
    await store.put(k('b'), { state: 'y'.repeat(150), version: 1, epoch: 1 });
  });

  it('applies the codec limits of the codec it is given', async () => {
    const store = new MemoryStateStore({ codec: createMsgpackCodec({ maxBytes: 1024 }) });
    const err = await store.put(k('a'), { state: new Uint8Array(2000), version: 1, epoch: 1 }).catch((e: unknown) => e);
    expect(isMeshError(err, 'InvalidArgument')).toBe(true);
    expect(await store.get(k('a'))).toBeUndefined();
  });

  it('refuses an invalid quota', () => {
    expect(() => new MemoryStateStore({ quotaBytes: -1 })).toThrow();
  });
});
