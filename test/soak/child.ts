/** A child process driven with JSON lines (the soak's signaling server and edge peer). */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { onJsonLines } from '../../src/testing/json-lines.js';

/** A running JSON-lines child. */
export interface JsonChild {
  readonly pid: number;
  /** The `ready` line the child printed. */
  readonly ready: Record<string, unknown>;
  /** Sends a command and resolves with its result (rejects on `ok: false` or the child's exit). */
  request<T>(cmd: string, timeoutMs?: number): Promise<T>;
  /** Asks the child to close and waits for its exit (SIGKILL after `timeoutMs`). */
  close(timeoutMs?: number): Promise<void>;
  kill(): Promise<void>;
  stderr(): string;
}

/** Starts `script` (TypeScript, through tsx) with `--expose-gc` and waits for its `ready` line. */
export async function startJsonChild(script: URL, env: Record<string, string> = {}, readyTimeoutMs = 30_000): Promise<JsonChild> {
  const child: ChildProcess = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(script)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const errors: string[] = [];
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    errors.push(d);
    if (errors.length > 200) errors.shift();
  });
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let seq = 0;
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = true;
      const e = new Error(`${fileURLToPath(script)} exited (${signal ?? String(code)}): ${errors.join('').slice(-2000)}`);
      for (const w of waiting.values()) w.reject(e);
      waiting.clear();
      resolve();
    }),
  );
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${fileURLToPath(script)} did not start: ${errors.join('')}`)), readyTimeoutMs);
    void exit.then(() => reject(new Error(`${fileURLToPath(script)} exited before ready: ${errors.join('')}`)));
    onJsonLines(child.stdout!, (value) => {
      const line = value as { event?: string; seq?: number; ok?: boolean; result?: unknown; message?: string };
      if (line.event === 'ready') {
        clearTimeout(timer);
        resolve(line as Record<string, unknown>);
      } else if (line.seq !== undefined) {
        const w = waiting.get(line.seq);
        waiting.delete(line.seq);
        if (line.ok === true) w?.resolve(line.result);
        else w?.reject(new Error(line.message ?? 'failed'));
      }
    });
  });
  return {
    pid: child.pid!,
    ready,
    request<T>(cmd: string, timeoutMs = 60_000): Promise<T> {
      if (exited) return Promise.reject(new Error('the child has exited'));
      const s = ++seq;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(s);
          reject(new Error(`${cmd}: no answer within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(s, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        child.stdin!.write(`${JSON.stringify({ seq: s, cmd })}\n`);
      });
    },
    async close(timeoutMs = 10_000) {
      if (exited) return;
      child.stdin!.write(`${JSON.stringify({ seq: ++seq, cmd: 'close' })}\n`);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exit;
      clearTimeout(timer);
    },
    async kill() {
      if (exited) return;
      child.kill('SIGKILL');
      await exit;
    },
    stderr: () => errors.join(''),
  };
}
