/**
 * Shared settings and checks of the fuzz suites (`test/fuzz/*.test.ts`).
 *
 * - `MESHRTC_FUZZ_RUNS`: generated inputs per target (default 100,000; `npm run fuzz` raises it).
 * - `MESHRTC_FUZZ_SEED`: replays a run (fast-check prints the seed and the shrunk counterexample on failure).
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import fc from 'fast-check';

/** Generated inputs per fuzz target. */
export const FUZZ_RUNS = positive(process.env['MESHRTC_FUZZ_RUNS'], 100_000);

/** fast-check parameters of every fuzz property: the run count, and the seed when one is given. */
export const FUZZ: fc.Parameters<unknown> = {
  numRuns: FUZZ_RUNS,
  ...(process.env['MESHRTC_FUZZ_SEED'] === undefined ? {} : { seed: Number(process.env['MESHRTC_FUZZ_SEED']) }),
};

/** Time budget of one target, for vitest (fuzzing 100,000 inputs takes seconds, a long run minutes). */
export const FUZZ_TIMEOUT_MS = Math.max(60_000, FUZZ_RUNS * 2);

function positive(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`MESHRTC_FUZZ_RUNS must be a positive integer, got ${value}`);
  return n;
}

/** Names of the own properties of the built-in prototypes that hostile input could try to extend. */
function prototypeShape(): string {
  const names = (o: object): string => Object.getOwnPropertyNames(o).sort().join(',');
  return [Object.prototype, Array.prototype, Function.prototype, Uint8Array.prototype, Map.prototype].map(names).join('|');
}

const cleanShape = prototypeShape();

/**
 * Throws when any built-in prototype gained or lost a property, or a fresh object inherits something unusual
 * (prototype pollution). Cheap enough to call after every input.
 */
export function assertNoPrototypePollution(): void {
  const probe = {} as Record<string, unknown>;
  for (const key of ['polluted', 'admin', 'isAdmin', 'x', 'a', '0', 'then', 'toJSON']) {
    if (probe[key] !== undefined) throw new Error(`prototype pollution: ({}).${key} is ${String(probe[key])}`);
  }
  if (Object.getPrototypeOf(probe) !== Object.prototype) throw new Error('prototype pollution: the prototype of {} changed');
}

/** The slower, complete check: no built-in prototype changed shape. Call at the end of a target. */
export function assertPrototypesUnchanged(): void {
  assertNoPrototypePollution();
  const now = prototypeShape();
  if (now !== cleanShape) throw new Error('prototype pollution: a built-in prototype changed shape');
}

let gcFn: (() => void) | undefined;

/** A forced full garbage collection (enables `gc` at run time when the process was not started with it). */
export function collectGarbage(): void {
  if (gcFn === undefined) {
    const global = globalThis as { gc?: () => void };
    if (typeof global.gc === 'function') gcFn = global.gc;
    else {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    }
  }
  gcFn();
  gcFn();
}

/** Bytes held by ArrayBuffers (and Buffers) after a full collection. */
export function arrayBufferBytes(): number {
  collectGarbage();
  return process.memoryUsage().arrayBuffers;
}

/** Counts outcomes by name, for the summary line each target prints. */
export class Tally {
  readonly #counts = new Map<string, number>();

  add(name: string): void {
    this.#counts.set(name, (this.#counts.get(name) ?? 0) + 1);
  }

  get(name: string): number {
    return this.#counts.get(name) ?? 0;
  }

  get total(): number {
    let n = 0;
    for (const v of this.#counts.values()) n += v;
    return n;
  }

  toString(): string {
    return [...this.#counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ');
  }
}
