/** The engine adapters: configuration each engine gets, and the injectable / native engines. */
import { describe, expect, it } from 'vitest';
import { isMeshError } from '../errors.js';
import { browserEngine, hasNativeWebRtc } from './engines/browser.js';
import { browserRuntime } from '../runtime.browser.js';
import { nodeRuntime } from '../runtime.js';
import { loadNodeEngine } from './engines/node.js';
import { nodeDatachannelEngine } from './engines/node-datachannel.js';
import { createRtcEngine, isRtcEngine } from './engines/types.js';
import { WERIFT_DEAD_STUN_URL, WERIFT_MAX_BUFFERED_MESSAGES, WERIFT_MAX_MESSAGE_SIZE, weriftEngine } from './engines/werift.js';

describe('engines', () => {
  it('werift never gets a public STUN host, always gets loopback, and caps its queue and messages', async () => {
    const w = await weriftEngine();
    expect(w.name).toBe('werift');
    expect(w.maxBufferedMessages).toBe(WERIFT_MAX_BUFFERED_MESSAGES);
    expect(w.maxMessageSize).toBe(WERIFT_MAX_MESSAGE_SIZE);
    const none = w.configure!({ iceServers: [], loopbackOnly: true });
    expect(none['iceServers']).toEqual([{ urls: WERIFT_DEAD_STUN_URL }]);
    expect(none['iceStunGatherTimeout']).toBeLessThan(0.1);
    expect(none['iceAdditionalHostAddresses']).toEqual(['127.0.0.1']);
    expect(none['iceUseIpv6']).toBe(false);
    const filter = none['iceFilterCandidatePair'] as (pair: unknown) => boolean;
    const pair = (l: string, r: string) => ({ localCandidate: { host: l }, remoteCandidate: { host: r } });
    expect([filter(pair('127.0.0.1', '127.0.0.1')), filter(pair('192.0.2.2', '127.0.0.1')), filter({})]).toEqual([true, false, false]);
    // With only TURN configured, werift would still fall back to Google for STUN: the dead port comes first.
    const turnOnly = w.configure!({ iceServers: [{ urls: 'turn:turn.example:3478', username: 'u', credential: 'p' }], loopbackOnly: false });
    expect((turnOnly['iceServers'] as { urls: string }[])[0]!.urls).toBe(WERIFT_DEAD_STUN_URL);
    expect(turnOnly['iceUseIpv6']).toBeUndefined();
    // A configured STUN server is used as is, with werift's own gathering timeout.
    const stun = w.configure!({ iceServers: [{ urls: ['stun:127.0.0.1:3478'] }], loopbackOnly: false });
    expect(stun['iceServers']).toEqual([{ urls: ['stun:127.0.0.1:3478'] }]);
    expect(stun['iceStunGatherTimeout']).toBeUndefined();
  });

  it('werift channels: onbufferedamountlow works, and errors without a listener do not throw', async () => {
    const w = await weriftEngine();
    const pc = new w.RTCPeerConnection(w.configure!({ iceServers: [], loopbackOnly: true }));
    const dc = pc.createDataChannel('x', { negotiated: true, id: 0, ordered: true }) as unknown as {
      onbufferedamountlow: (() => void) | null;
      emit(type: string, ...args: unknown[]): boolean;
    };
    let fired = 0;
    dc.onbufferedamountlow = () => fired++;
    dc.emit('bufferedamountlow');
    expect(fired).toBe(1);
    dc.onbufferedamountlow = null;
    dc.emit('bufferedamountlow');
    expect(fired).toBe(1);
    expect(() => dc.emit('error', new Error('boom'))).not.toThrow();
    await pc.close();
  });

  it('node-datachannel binds to loopback only in loopback configuration', async () => {
    const n = await nodeDatachannelEngine();
    expect(n.configure!({ iceServers: [], loopbackOnly: true })['bindAddress']).toBe('127.0.0.1');
    expect(n.configure!({ iceServers: [{ urls: 'stun:stun.example:3478' }], loopbackOnly: false })).toEqual({
      iceServers: [{ urls: 'stun:stun.example:3478' }],
    });
    expect(typeof n.shutdown).toBe('function');
  });

  it('loadNodeEngine and the Node runtime pick node-datachannel unless werift is asked for', async () => {
    expect((await loadNodeEngine()).name).toBe('node-datachannel');
    expect((await nodeRuntime.loadEngine()).name).toBe('node-datachannel');
    expect((await nodeRuntime.loadEngine('werift')).name).toBe('werift');
    await expect(nodeRuntime.loadEngine('chrome')).rejects.toSatisfy((e: unknown) => isMeshError(e, 'InvalidArgument'));
    expect((await loadNodeEngine('werift')).name).toBe('werift');
  });

  it('the browser engine wraps the native constructor and fails clearly without one', async () => {
    expect(hasNativeWebRtc()).toBe(false);
    expect(() => browserEngine()).toThrow(/no RTCPeerConnection/);
    await expect(browserRuntime.loadEngine()).rejects.toSatisfy((e: unknown) => isMeshError(e, 'ConnectionFailed'));
    class FakePc {}
    const e = browserEngine(FakePc);
    expect(e.RTCPeerConnection).toBe(FakePc);
    expect(e.configure!({ iceServers: [{ urls: 'stun:x' }], loopbackOnly: true })).toEqual({ iceServers: [{ urls: 'stun:x' }] });
  });

  it('createRtcEngine accepts an injected constructor (rtcPolyfill style) and refuses anything else', () => {
    class Injected {}
    const e = createRtcEngine(Injected, { name: 'injected', configuration: { bundlePolicy: 'max-bundle' }, maxBufferedMessages: 8 });
    expect(isRtcEngine(e)).toBe(true);
    expect(e.name).toBe('injected');
    expect(e.maxBufferedMessages).toBe(8);
    expect(e.configure!({ iceServers: [], loopbackOnly: false })).toEqual({ iceServers: [], bundlePolicy: 'max-bundle' });
    expect(() => createRtcEngine({})).toThrow(TypeError);
    expect(isRtcEngine({ name: 'x' })).toBe(false);
  });
});
