/** loadNodeEngine falls back to werift, with one notice, when node-datachannel's native module cannot load. */
import { afterEach, describe, expect, it, vi } from 'vitest';

vi.mock('node-datachannel/polyfill', () => {
  throw new Error('simulated: native module not found');
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('loadNodeEngine fallback', () => {
  it('uses werift and logs a notice once', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { loadNodeEngine } = await import('./engines/node.js');
    expect((await loadNodeEngine()).name).toBe('werift');
    expect((await loadNodeEngine('node-datachannel')).name).toBe('werift');
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/node-datachannel could not be loaded.*falling back to werift/);
  });
});
