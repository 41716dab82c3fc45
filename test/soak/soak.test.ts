/**
 * The soak, short form (part of `npm test`; `npm run soak` runs 1,000 cycles): a signaling server and a
 * long-lived edge peer in their own processes, and short-lived peers that join, call the edge over WebRTC and
 * leave, one after another. Heap after GC and open handles of both processes grow less than 10% from the
 * reading after the warm-up to the last one; the edge holds no link to a departed peer; every call succeeds and
 * the server refuses nobody. Prints the table and writes `bench/results/soak-short.json`.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runSoak, soakTable, writeResult } from './runner.js';

const CYCLES = Number(process.env['MESHRTC_SOAK_SHORT_CYCLES'] ?? 150);

describe('soak (short form)', () => {
  it(`${CYCLES} connect/call/disconnect cycles: heap and handles of server and edge grow < 10%`, async () => {
    const result = await runSoak({ cycles: CYCLES, warmup: 50, probeEvery: Math.ceil(CYCLES / 3), form: 'short' });
    console.log(soakTable(result));
    await writeResult(fileURLToPath(new URL('../../bench/results/soak-short.json', import.meta.url)), result);
    expect(result.calls).toEqual({ ok: CYCLES, failed: {} });
    expect(result.readings.at(-1)!.server.refused).toEqual({});
    for (const [name, g] of Object.entries(result.growth)) expect(g.ok, `${name}: ${g.before} -> ${g.after}`).toBe(true);
    expect(result.readings.at(-1)!.edge.links).toBe(0);
    expect(result.passed).toBe(true);
  }, 300_000);
});
