/**
 * Exactly-once effects on the real stack: 3 edge processes with data directories (LMDB), 200 counters,
 * 8 concurrent callers incrementing for 20 s while one owner is SIGKILLed, a peer joins and one leaves
 * gracefully. Afterwards every counter equals the number of acknowledged increments; every call settled.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { isMeshError } from '../../src/index.js';
import { startEdgePeer, startSignalingProcess, type EdgePeerProcess, type SignalingProcess } from '../../src/testing/index.js';

const actorsModule = fileURLToPath(new URL('../fixtures/actors.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'meshrtc-counters-'));

describe('counters under churn (3 edge processes, SIGKILL, join, graceful leave)', () => {
  const procs: EdgePeerProcess[] = [];
  let signaling: SignalingProcess | undefined;
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await signaling?.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  it('loses no acknowledged increment and applies none twice', async () => {
    signaling = await startSignalingProcess({ pingIntervalMs: 1000 });
    const room = 'counters';
    const edge = async (name: string): Promise<EdgePeerProcess> => {
      const p = await startEdgePeer({ signalingUrl: signaling!.url, room, peerId: name, dataDir: join(root, name), capabilities: ['game'], actorsModule, engine: 'node-datachannel' });
      procs.push(p);
      return p;
    };
    const [e1, e2] = [await edge('e1'), await edge('e2'), await edge('e3')];
    const client = await startEdgePeer({ signalingUrl: signaling.url, room, peerId: 'client', capabilities: [], engine: 'node-datachannel', defaultTimeoutMs: 10_000 });
    procs.push(client);
    await client.waitForPeers(['client', 'e1', 'e2', 'e3']);

    const ids = Array.from({ length: 200 }, (_, i) => `n${i}`);
    const acked = new Map(ids.map((id) => [id, 0]));
    const outcomes = new Map<string, number>();
    let stop = false;
    let seq = 0;
    const caller = async (w: number): Promise<void> => {
      let i = w;
      while (!stop) {
        const id = ids[i % ids.length]!;
        i += 7;
        const key = `w${w}-${seq++}`;
        try {
          await client.call({ capability: 'game', type: 'counter', id, payload: { op: 'add', arg: 1 } }, { idempotencyKey: key, timeoutMs: 10_000 });
          acked.set(id, acked.get(id)! + 1);
          outcomes.set('ok', (outcomes.get('ok') ?? 0) + 1);
        } catch (e) {
          // Unacknowledged: must be a typed error (never a hang: the harness call would not return).
          expect(isMeshError(e), String(e)).toBe(true);
          outcomes.set((e as { code: string }).code, (outcomes.get((e as { code: string }).code) ?? 0) + 1);
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, (_, w) => caller(w)));
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    await sleep(5000);
    await e1.kill('SIGKILL');
    await sleep(5000);
    await edge('e4');
    await sleep(5000);
    await e2.close();
    await sleep(5000);
    stop = true;
    await load;
    await client.waitForPeers(['client', 'e3', 'e4']);

    const wrong: string[] = [];
    for (const id of ids) {
      const r = await client.call<number>({ capability: 'game', type: 'counter', id, payload: { op: 'get' } }, { timeoutMs: 10_000 });
      if (r.reply !== acked.get(id)) wrong.push(`${id}: stored ${r.reply}, acknowledged ${acked.get(id)}`);
    }
    console.log('counters under churn:', Object.fromEntries(outcomes), 'wrong:', wrong.length);
    expect(outcomes.get('ok') ?? 0).toBeGreaterThan(1000);
    expect(wrong).toEqual([]);
  }, 120_000);
});
