/**
 * Just enough of vitest's API to run a contract suite (`src/testing/contracts/*.ts`) inside a Chromium page:
 * `describe`, `it` with a `TestContext` that can `skip`, and vitest's own `expect` (from `@vitest/expect`, the
 * package vitest itself builds `expect` from, on chai). The page build aliases `vitest` to this file, so the
 * suite source runs unchanged. `runRegistered()` runs every registered test in order and reports each outcome.
 */
import { chai, GLOBAL_EXPECT, JestAsymmetricMatchers, JestChaiExpect, JestExtend, getState, setState } from '@vitest/expect';

chai.use(JestExtend);
chai.use(JestChaiExpect);
chai.use(JestAsymmetricMatchers);

/** vitest's `expect`, built the way vitest builds it (state kept for matchers that read it). */
export const expect = ((value: unknown, message?: string) => {
  const state = getState(expect as never) as { assertionCalls: number };
  setState({ assertionCalls: state.assertionCalls + 1 }, expect as never);
  return chai.expect(value, message);
}) as unknown as Chai.ExpectStatic;
Object.assign(expect, chai.expect);
setState({ assertionCalls: 0, isExpectingAssertions: false, expectedAssertionsNumber: null, isExpectingAssertionsError: null, expectedAssertionsNumberErrorGen: null, environment: 'browser', testPath: 'page' } as never, expect as never);
(globalThis as Record<symbol, unknown>)[GLOBAL_EXPECT] = expect;

/** What a test receives: `skip(reason)` ends it as skipped. */
export interface TestContext {
  skip(reason?: string): never;
}

class Skipped extends Error {}

interface Registered {
  name: string;
  fn: (ctx: TestContext) => unknown;
  timeoutMs: number;
}

const registered: Registered[] = [];
const prefixes: string[] = [];

/** Groups tests; the name prefixes each test's name. */
export function describe(name: string, body: () => void): void {
  prefixes.push(name);
  try {
    body();
  } finally {
    prefixes.pop();
  }
}

/** Registers a test. */
export function it(name: string, fn: (ctx: TestContext) => unknown, timeoutMs = 60_000): void {
  registered.push({ name: [...prefixes, name].join(' > '), fn, timeoutMs });
}

/** One test's outcome. */
export interface Outcome {
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  ms: number;
  error?: string;
}

/** Runs every registered test, one at a time. */
export async function runRegistered(): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (const t of registered) {
    const started = performance.now();
    const ctx: TestContext = {
      skip: (reason?: string) => {
        throw new Skipped(reason ?? 'skipped');
      },
    };
    try {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.resolve().then(() => t.fn(ctx)),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${t.timeoutMs} ms`)), t.timeoutMs);
        }),
      ]).finally(() => clearTimeout(timer));
      out.push({ name: t.name, status: 'passed', ms: performance.now() - started });
    } catch (e) {
      const skipped = e instanceof Skipped;
      out.push({ name: t.name, status: skipped ? 'skipped' : 'failed', ms: performance.now() - started, error: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e) });
    }
  }
  return out;
}
