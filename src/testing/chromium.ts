/**
 * Launching Chromium for WebRTC tests (Node only; needs `playwright-core` or `@playwright/test`, optional peer
 * dependencies). Which executable: `MESHRTC_CHROMIUM` when set, else Playwright's own Chromium when it is
 * installed, else the system's `/usr/bin/chromium` (Debian's package). The flags make WebRTC usable on loopback:
 * fake media devices (a page must hold a media permission before Chromium gathers 127.0.0.1 candidates), loopback
 * allowed in peer connections, and no mDNS host names.
 */
import { existsSync } from 'node:fs';
import type { Browser, LaunchOptions } from 'playwright-core';

/** Flags WebRTC on 127.0.0.1 needs in headless Chromium (see WEBRTC-NOTES.md). */
export const CHROMIUM_WEBRTC_ARGS: readonly string[] = [
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Background tabs must keep their timers: every page of a test cluster is a live peer.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

/** The system Chromium used when neither `MESHRTC_CHROMIUM` nor Playwright's own browser is there. */
export const SYSTEM_CHROMIUM = '/usr/bin/chromium';

/**
 * The Chromium executable to use, or undefined to let Playwright use its own. Throws with install instructions
 * when there is none.
 */
export async function chromiumExecutable(): Promise<string | undefined> {
  const fromEnv = process.env['MESHRTC_CHROMIUM'];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!existsSync(fromEnv)) throw new Error(`MESHRTC_CHROMIUM=${fromEnv} does not exist`);
    return fromEnv;
  }
  const { chromium } = await import('playwright-core');
  try {
    if (existsSync(chromium.executablePath())) return undefined;
  } catch {
    // no Playwright browser registry entry: fall through to the system browser
  }
  if (existsSync(SYSTEM_CHROMIUM)) return SYSTEM_CHROMIUM;
  throw new Error(
    `no Chromium found: install Playwright's (npx playwright install chromium), or the system package ` +
      `(apt-get install -y chromium), or set MESHRTC_CHROMIUM to an executable`,
  );
}

/** Launches headless Chromium with {@link CHROMIUM_WEBRTC_ARGS} (plus `options.args`). */
export async function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  const executablePath = options.executablePath ?? (await chromiumExecutable());
  return chromium.launch({
    headless: true,
    ...options,
    ...(executablePath === undefined ? {} : { executablePath }),
    args: [...CHROMIUM_WEBRTC_ARGS, ...(options.args ?? [])],
  });
}
