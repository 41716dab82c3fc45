import { describe, expect, it } from 'vitest';
import { ReplayWindow } from './replay.js';

describe('ReplayWindow', () => {
  it('admits each request id of a sender once, per sender', () => {
    const w = new ReplayWindow(4);
    expect([w.admit('a', 1), w.admit('a', 2), w.admit('a', 1), w.admit('b', 1), w.admit('b', 1)]).toEqual([true, true, false, true, false]);
    expect(w.senders).toBe(2);
  });

  it('remembers the last `capacity` ids of a sender (bounded), in any order', () => {
    const w = new ReplayWindow(3);
    for (const rid of [5, 3, 9]) expect(w.admit('a', rid)).toBe(true);
    expect(w.admit('a', 3)).toBe(false);
    expect(w.admit('a', 10)).toBe(true); // evicts 5, the oldest
    expect(w.admit('a', 9)).toBe(false);
    expect(w.admit('a', 5)).toBe(true);
  });

  it('forgets a sender whose link went down (a restarted caller numbers from 1 again)', () => {
    const w = new ReplayWindow();
    expect(w.admit('a', 1)).toBe(true);
    w.forget('a');
    expect(w.senders).toBe(0);
    expect(w.admit('a', 1)).toBe(true);
    expect(() => new ReplayWindow(0)).toThrow(RangeError);
  });
});
