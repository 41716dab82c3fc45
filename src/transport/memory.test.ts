import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../clock/simulated.js';
import { seededRandom } from '../random.js';
import { transportContract } from '../testing/contracts/transport.js';
import { MemoryNetwork } from './memory.js';

transportContract('MemoryTransport', async () => {
  const net = new MemoryNetwork({ latencyMs: [0, 2], random: seededRandom(3) });
  const transports = ['m-a', 'm-b', 'm-c'].map((id) => net.createTransport(id));
  return { transports, close: async () => void (await Promise.all(transports.map((t) => t.close()))) };
});

describe('MemoryNetwork', () => {
  it('holds frames across a short partition and delivers them in order after the heal', async () => {
    const clock = new SimulatedClock();
    const net = new MemoryNetwork({ clock, latencyMs: [1, 10], lossRate: 0.3, random: seededRandom(9), detectMs: 3000, retransmitMs: 50 });
    const a = net.createTransport('a');
    const b = net.createTransport('b');
    const got: number[] = [];
    const downs: string[] = [];
    b.setHandlers({ onFrame: (_from, f) => got.push(f[0]!), onPeerDown: (p, r) => downs.push(`${p}:${r}`) });
    a.setHandlers({ onFrame: () => {} });
    for (let i = 0; i < 20; i++) await a.send('b', new Uint8Array([i]));
    net.partition(['a'], ['b']);
    for (let i = 20; i < 40; i++) await a.send('b', new Uint8Array([i]));
    await clock.advance(1000);
    net.heal();
    await clock.advance(1000);
    expect(got).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(downs).toEqual([]);
    expect(net.stats.retransmitted).toBeGreaterThan(0);
  });

  it('declares the link down when a partition outlasts detectMs, and reconnects after the heal', async () => {
    const clock = new SimulatedClock();
    const net = new MemoryNetwork({ clock, detectMs: 3000 });
    const a = net.createTransport('a');
    const b = net.createTransport('b');
    const downs: string[] = [];
    const got: number[] = [];
    a.setHandlers({ onFrame: () => {}, onPeerDown: (p, r) => downs.push(`a saw ${p} ${r}`) });
    b.setHandlers({ onFrame: (_f, x) => got.push(x[0]!), onPeerDown: (p, r) => downs.push(`b saw ${p} ${r}`) });
    await a.send('b', new Uint8Array([1]));
    await clock.advance(10);
    net.partition(['a'], ['b']);
    await a.send('b', new Uint8Array([2])); // lost with the link
    await clock.advance(3500);
    expect(downs.sort()).toEqual(['a saw b timeout', 'b saw a timeout']);
    await expect(a.send('b', new Uint8Array([3]))).rejects.toMatchObject({ code: 'PeerUnavailable' });
    net.heal();
    await a.send('b', new Uint8Array([4]));
    await clock.advance(10);
    expect(got).toEqual([1, 4]);
  });
});
