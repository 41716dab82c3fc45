/**
 * LmdbStateStore on real files in a temp directory: the contract, plus what only a durable store can show —
 * acknowledged writes survive SIGKILL, a batch is one LMDB transaction, and a real "disk full" (a file-size
 * limit set with `ulimit -f` in a child process) surfaces as StorageFull without a half-written batch.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { isMeshError } from '../errors.js';
import { stateStoreContract } from '../testing/contracts/state-store.js';
import { stateKey } from './keys.js';
import { LmdbStateStore } from './lmdb.js';
import type { StateRecord } from './types.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const storeModule = pathToFileURL(fileURLToPath(new URL('./lmdb.ts', import.meta.url))).href;

const tempDirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshrtc-lmdb-'));
  tempDirs.push(dir);
  return dir;
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iterable) out.push(x);
  return out;
}

stateStoreContract('LmdbStateStore', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'meshrtc-lmdb-contract-'));
  const store = await LmdbStateStore.open({ dataDir });
  return {
    store,
    reopen: () => LmdbStateStore.open({ dataDir }),
    // A quota equal to what is stored: every write that adds bytes is refused.
    simulateFull: () => store.setQuotaBytes(store.stats().usedBytes),
    cleanup: () => rm(dataDir, { recursive: true, force: true }),
  };
});

/** Runs a TypeScript child script (through tsx) and returns its stdout lines as they arrive. */
function runChild(script: string, args: string[], options: { shellPrefix?: string; onLine?: (line: string, kill: () => void) => void } = {}) {
  const nodeArgs = ['--import', 'tsx', script, ...args];
  const child = options.shellPrefix === undefined
    ? spawn(process.execPath, nodeArgs, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('sh', ['-c', `${options.shellPrefix} && exec "$0" "$@"`, process.execPath, ...nodeArgs], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      lines.push(line);
      options.onLine?.(line, () => child.kill('SIGKILL'));
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { lines, exited, stderr: () => stderr };
}

describe('LmdbStateStore', () => {
  const k = (id: string): string => stateKey({ capability: 'game', type: 'counter', id });
  const rec = (epoch: number, version: number, state: unknown = version): StateRecord => ({ state, version, epoch });

  afterEach(async () => {
    for (const dir of tempDirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it('acknowledged writes survive SIGKILL; batches are whole after the crash', async () => {
    const dir = await tempDir();
    const child = join(dir, 'crash-child.mts');
    await writeFile(
      child,
      `
      const { LmdbStateStore } = await import(${JSON.stringify(storeModule)});
      process.chdir(process.argv[2]); // the store's default data directory: ./.meshrtc-data
      const store = await LmdbStateStore.open();
      const pad = (n) => String(n).padStart(6, '0');
      for (let b = 0; ; b++) {
        await store.batch(Array.from({ length: 10 }, (_, i) => ({ type: 'put', key: 'crash/batch/' + pad(b) + '-' + i, record: { state: { b, i, blob: 'x'.repeat(200) }, version: 1, epoch: 1 } })));
        await store.put('crash/counter/x', { state: b, version: b + 1, epoch: 1 });
        process.stdout.write('ack ' + b + '\\n');
      }
      `,
    );
    const killAt = 150;
    const run = runChild(child, [dir], { onLine: (line, kill) => line === `ack ${killAt}` && kill() });
    const exit = await run.exited;
    expect(exit.signal, run.stderr()).toBe('SIGKILL');
    const acked = run.lines.filter((l) => l.startsWith('ack ')).map((l) => Number(l.slice(4)));
    expect(acked.length).toBeGreaterThanOrEqual(killAt + 1);
    const lastAcked = acked[acked.length - 1]!;

    const store = await LmdbStateStore.open({ dataDir: join(dir, '.meshrtc-data') });
    try {
      const entries = await collect(store.scan('crash/batch/'));
      const perBatch = new Map<number, number>();
      for (const [, r] of entries) {
        const b = (r.state as { b: number }).b;
        perBatch.set(b, (perBatch.get(b) ?? 0) + 1);
      }
      // Every acknowledged batch is there, whole; at most the batch in flight at the kill is extra, also whole.
      for (let b = 0; b <= lastAcked; b++) expect(perBatch.get(b), `batch ${b}`).toBe(10);
      for (const [b, n] of perBatch) expect(n, `batch ${b}`).toBe(10);
      expect(Math.max(...perBatch.keys())).toBeLessThanOrEqual(lastAcked + 1);
      const counter = await store.get('crash/counter/x');
      expect(counter!.version).toBeGreaterThanOrEqual(lastAcked + 1);
      // The reopened store accepts new writes (LMDB's lock file from the killed process is recovered).
      await store.put('crash/counter/x', { state: 'after', version: counter!.version + 1, epoch: 1 });
    } finally {
      await store.close();
    }
  }, 60_000);

  it.skipIf(process.platform === 'win32')('a real file-size limit (ulimit -f) becomes StorageFull, and the failed batch is absent', async () => {
    const dir = await tempDir();
    const child = join(dir, 'full-child.mts');
    await writeFile(
      child,
      `
      process.on('SIGXFSZ', () => {}); // get EFBIG from write() instead of being killed
      const { LmdbStateStore } = await import(${JSON.stringify(storeModule)});
      const store = await LmdbStateStore.open({ dataDir: process.argv[2] });
      const pad = (n) => String(n).padStart(6, '0');
      let acked = -1;
      let failure;
      for (let b = 0; b < 100000 && failure === undefined; b++) {
        try {
          await store.batch(Array.from({ length: 20 }, (_, i) => ({ type: 'put', key: 'full/b/' + pad(b) + '-' + i, record: { state: 'y'.repeat(2000), version: 1, epoch: 1 } })));
          acked = b;
        } catch (e) {
          failure = { code: e.code, causeCode: e.cause?.code, message: e.message };
        }
      }
      const readable = (await store.get('full/b/' + pad(0) + '-0')) !== undefined;
      process.stdout.write(JSON.stringify({ acked, failure, readable }) + '\\n');
      process.exit(0);
      `,
    );
    const run = runChild(child, [dir], { shellPrefix: 'ulimit -f 4096' });
    const exit = await run.exited;
    expect(exit.code, run.stderr()).toBe(0);
    const report = JSON.parse(run.lines[run.lines.length - 1]!) as { acked: number; failure?: { code: string; causeCode: unknown; message: string }; readable: boolean };
    expect(report.failure?.code, JSON.stringify(report)).toBe('StorageFull');
    expect(report.acked).toBeGreaterThan(5);
    expect(report.readable).toBe(true);

    const store = await LmdbStateStore.open({ dataDir: dir });
    try {
      const keys = (await collect(store.scan('full/b/'))).map(([key]) => key);
      expect(keys.length).toBe((report.acked + 1) * 20);
      expect(keys[keys.length - 1]).toBe(`full/b/${String(report.acked).padStart(6, '0')}-9`);
      // Without the limit the same data directory takes writes again.
      await store.put(k('after'), rec(1, 1));
    } finally {
      await store.close();
    }
  }, 60_000);

  it('commits a batch of 1000 puts as one LMDB transaction, seen all at once by readers', async () => {
    const store = await LmdbStateStore.open({ dataDir: await tempDir() });
    try {
      const before = store.stats().lastTxnId;
      const observed = new Set<number>();
      let done = false;
      const observer = (async () => {
        while (!done) {
          observed.add((await collect(store.scan('bulk/'))).length);
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      })();
      await store.batch(Array.from({ length: 1000 }, (_, i) => ({ type: 'put' as const, key: `bulk/item/${String(i).padStart(4, '0')}`, record: rec(1, 1, i) })));
      done = true;
      await observer;
      observed.add((await collect(store.scan('bulk/'))).length);
      expect(store.stats().lastTxnId - before).toBe(1);
      expect([...observed].every((n) => n === 0 || n === 1000), `observed counts ${[...observed].join(',')}`).toBe(true);
      expect(observed.has(1000)).toBe(true);
      expect(store.stats().entries).toBe(1000);
    } finally {
      await store.close();
    }
  });

  it('groups concurrent writes of many actors into fewer commits', async () => {
    const store = await LmdbStateStore.open({ dataDir: await tempDir() });
    try {
      const before = store.stats().lastTxnId;
      await Promise.all(Array.from({ length: 200 }, (_, i) => store.put(k(`a${i}`), rec(1, 1))));
      const commits = store.stats().lastTxnId - before;
      expect(commits).toBeGreaterThanOrEqual(1);
      expect(commits).toBeLessThan(200);
      expect(store.stats().commits).toBe(200);
    } finally {
      await store.close();
    }
  });

  it('keeps the stored-bytes counter exact across writes, deletes and reopen', async () => {
    const dataDir = await tempDir();
    let store = await LmdbStateStore.open({ dataDir, quotaBytes: 10_000 });
    await store.put(k('a'), rec(1, 1, 'x'.repeat(3000)));
    await store.put(k('b'), rec(1, 1, 'x'.repeat(3000)));
    const used = store.stats().usedBytes;
    expect(used).toBeGreaterThan(6000);
    const err = await store.put(k('c'), rec(1, 1, 'x'.repeat(5000))).catch((e: unknown) => e);
    expect(isMeshError(err, 'StorageFull')).toBe(true);
    expect((err as { details: Record<string, unknown> }).details).toMatchObject({ quotaBytes: 10_000, usedBytes: used });
    await store.delete(k('a'));
    await store.put(k('c'), rec(1, 1, 'x'.repeat(5000)));
    const after = store.stats().usedBytes;
    await store.close();
    store = await LmdbStateStore.open({ dataDir });
    try {
      expect(store.stats().usedBytes).toBe(after);
      let sum = 0;
      for await (const [key] of store.scan('')) sum += key.length;
      expect(after).toBeGreaterThan(sum);
    } finally {
      await store.close();
    }
  });

  it('keeps stores of different names in one data directory apart', async () => {
    const dataDir = await tempDir();
    const actors = await LmdbStateStore.open({ dataDir });
    const mirrors = await LmdbStateStore.open({ dataDir, name: 'mirrors' });
    try {
      await actors.put(k('a'), rec(1, 1, 'actor'));
      await mirrors.put(k('a'), rec(1, 1, 'mirror'));
      expect((await actors.get(k('a')))?.state).toBe('actor');
      expect((await mirrors.get(k('a')))?.state).toBe('mirror');
      expect(actors.name).toBe('lmdb:actors');
      expect(mirrors.name).toBe('lmdb:mirrors');
    } finally {
      await actors.close();
    }
    // Closing one store leaves the other usable.
    try {
      await mirrors.put(k('b'), rec(1, 1, 'still open'));
      expect((await mirrors.get(k('b')))?.state).toBe('still open');
    } finally {
      await mirrors.close();
    }
  });

  it('refuses bad options and reports an unusable directory as StorageError', async () => {
    const dir = await tempDir();
    expect(await LmdbStateStore.open({ dataDir: dir, name: 'no/slash' }).catch((e: unknown) => (e as { code?: string }).code)).toBe('InvalidArgument');
    expect(await LmdbStateStore.open({ dataDir: dir, mapSizeBytes: 0 }).catch((e: unknown) => (e as { code?: string }).code)).toBe('InvalidArgument');
    const file = join(dir, 'a-file');
    await writeFile(file, 'not a directory');
    expect(await LmdbStateStore.open({ dataDir: file }).catch((e: unknown) => (e as { code?: string }).code)).toBe('StorageError');
  });
});
