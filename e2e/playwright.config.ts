/**
 * The e2e suite: real Chromium pages and real Node edge peers over real WebRTC on 127.0.0.1. Chromium comes
 * from `launchChromium` (MESHRTC_CHROMIUM, Playwright's own, or /usr/bin/chromium); each test starts its own
 * cluster with `startCluster` from `meshrtc/testing/cluster`. One worker: a cluster of pages already uses both
 * cores of the CI machine.
 */
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: '.',
  testMatch: '**/*.spec.ts',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 180_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  outputDir: '../test-results/e2e',
});
