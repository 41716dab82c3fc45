import type { Clock, Timer } from './clock.js';

interface Entry {
  at: number;
  seq: number;
  fn: () => void;
  every: number;
  cancelled: boolean;
}

/**
 * A clock that only moves when told to. Timers fire in time order (ties in scheduling order); between two
 * timers every pending promise reaction runs, so async code behaves as it would in real time, only faster
 * and reproducibly.
 */
export class SimulatedClock implements Clock {
  #now: number;
  #seq = 0;
  #heap: Entry[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.#add(fn, Math.max(0, ms), 0);
  }

  setInterval(fn: () => void, ms: number): Timer {
    return this.#add(fn, Math.max(1, ms), Math.max(1, ms));
  }

  /** Number of timers still scheduled. */
  get pending(): number {
    return this.#heap.filter((e) => !e.cancelled).length;
  }

  /** Advances time by `ms`, firing due timers in order and letting promise reactions settle between them. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await flush();
    for (;;) {
      const next = this.#peek();
      if (next === undefined || next.at > target) break;
      this.#pop();
      this.#now = next.at;
      if (next.every > 0) {
        next.at += next.every;
        next.seq = this.#seq++;
        this.#push(next);
      }
      next.fn();
      await flush();
    }
    this.#now = target;
    await flush();
  }

  /** Advances in steps of `stepMs` until `predicate()` holds or `maxMs` has passed; returns whether it held. */
  async advanceUntil(predicate: () => boolean, maxMs: number, stepMs = 10): Promise<boolean> {
    const end = this.#now + maxMs;
    while (!predicate()) {
      if (this.#now >= end) return false;
      await this.advance(Math.min(stepMs, end - this.#now));
    }
    return true;
  }

  /**
   * Advances in steps of `stepMs` until `p` settles, at most `maxMs`; returns its outcome. Throws when `p` is still
   * pending then (in a test: a hang).
   */
  async settle<T>(p: Promise<T>, maxMs: number, stepMs = 10): Promise<PromiseSettledResult<T>> {
    let out: PromiseSettledResult<T> | undefined;
    p.then(
      (value) => (out = { status: 'fulfilled', value }),
      (reason: unknown) => (out = { status: 'rejected', reason }),
    );
    await this.advanceUntil(() => out !== undefined, maxMs, stepMs);
    if (out === undefined) throw new Error(`still pending after ${maxMs} ms of simulated time (a hang)`);
    return out;
  }

  #add(fn: () => void, ms: number, every: number): Timer {
    const entry: Entry = { at: this.#now + ms, seq: this.#seq++, fn, every, cancelled: false };
    this.#push(entry);
    return {
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  #peek(): Entry | undefined {
    while (this.#heap.length > 0 && this.#heap[0]!.cancelled) this.#pop();
    return this.#heap[0];
  }

  #push(e: Entry): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && less(h[l]!, h[m]!)) m = l;
      if (r < h.length && less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

function less(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Lets every queued promise reaction run (several rounds, since reactions queue more reactions). */
async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}
