/**
 * Chaos under load, short form (`npm run chaos` runs the 3-minute form): 6 edge processes and 4 Chromium pages
 * serving durable counters while one of them leaves gracefully or is killed, then rejoins, every 10 s, and
 * 16 callers increment and read back. No acknowledged increment lost or applied twice, no actor active on two
 * peers in one view, every call settled with a reply or a typed error within its deadline. See
 * test/chaos/chaos.ts. Prints the table and writes `bench/results/chaos-short.json`.
 */
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { chaosTable, runChaos } from '../test/chaos/chaos.js';
import { writeResult } from '../test/soak/runner.js';

const DURATION_MS = Number(process.env['MESHRTC_CHAOS_SHORT_MS'] ?? 50_000);

test('chaos: leaves, kills and rejoins every 10 s under load lose and duplicate nothing', async () => {
  test.setTimeout(DURATION_MS + 240_000);
  const result = await runChaos({ durationMs: DURATION_MS, form: 'short', log: (line) => console.info(line) });
  const table = chaosTable(result);
  console.info(table);
  test.info().annotations.push({ type: 'chaos', description: table });
  await writeResult(fileURLToPath(new URL('../bench/results/chaos-short.json', import.meta.url)), result);

  expect(result.violations).toEqual([]);
  expect(result.lost).toBe(0);
  expect(result.appliedTwice).toBe(0);
  expect(result.readYourWritesViolations).toBe(0);
  expect(result.duplicateActivations).toEqual([]);
  expect(result.overDeadline).toBe(0);
  expect(result.increments.untyped + result.reads.untyped).toBe(0);
  // Both kinds of peer were churned both ways, and the load was real: every counter moved.
  expect(result.events.length).toBeGreaterThanOrEqual(Math.min(4, Math.floor(DURATION_MS / 10_000)));
  if (result.events.length >= 4) expect(new Set(result.events.map((e) => `${e.kind}/${e.mode}`)).size).toBe(4);
  expect(result.increments.ok).toBeGreaterThanOrEqual(result.counters);
  expect(result.viewChecks).toBeGreaterThan(result.events.length * 2);
  expect(result.mostActive).toBeGreaterThanOrEqual(result.counters);
  expect(result.passed).toBe(true);
});
