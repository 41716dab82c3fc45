import { getHeapSpaceStatistics } from 'node:v8';

/**
 * What a soak child process reports about itself: heap after a full collection and the open handles (libuv
 * resources, by type). Children run with `--expose-gc`.
 */

/** A memory and handle reading of one process. */
export interface ProcessProbe {
  /** `heapUsed` after two full collections, in bytes (the smallest of three readings). */
  heapUsed: number;
  /** `arrayBuffers` after the same collections, in bytes. */
  arrayBuffers: number;
  rss: number;
  /** Bytes used per V8 heap space after the collections (`old_space`, `code_space`, ...). */
  spaces: Record<string, number>;
  /** Open handles and requests (`process.getActiveResourcesInfo()`), by type, and their total. */
  handles: Record<string, number>;
  handleCount: number;
}

/** Reads this process's heap (after GC) and handles. */
export async function probeProcess(): Promise<ProcessProbe> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('start the process with --expose-gc');
  let heapUsed = Infinity;
  let arrayBuffers = Infinity;
  let spaces: Record<string, number> = {};
  for (let i = 0; i < 3; i++) {
    // Let pending callbacks, finalizers and weak references settle between collections.
    await new Promise<void>((r) => setImmediate(r));
    gc();
    gc();
    const m = process.memoryUsage();
    if (m.heapUsed < heapUsed) spaces = Object.fromEntries(getHeapSpaceStatistics().map((x) => [x.space_name, x.space_used_size]));
    heapUsed = Math.min(heapUsed, m.heapUsed);
    arrayBuffers = Math.min(arrayBuffers, m.arrayBuffers);
  }
  const handles: Record<string, number> = {};
  let handleCount = 0;
  for (const type of process.getActiveResourcesInfo()) {
    handles[type] = (handles[type] ?? 0) + 1;
    handleCount++;
  }
  return { heapUsed, arrayBuffers, rss: process.memoryUsage().rss, spaces, handles, handleCount };
}
