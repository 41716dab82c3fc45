import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MeshError, SignalingError } from '../errors.js';
import type { PeerInfo } from '../membership/types.js';
import {
  MAX_CAPABILITIES,
  MAX_CAPABILITY_LENGTH,
  MAX_DEPTH,
  MAX_PEER_ID_LENGTH,
  MAX_WEIGHT,
  PROTOCOL_VERSION,
  encodeMessage,
  parseClientMessage,
  parseServerMessage,
  reasonOf,
  validatePeerInfo,
} from './messages.js';

const peer: PeerInfo = { id: 'peer-1', incarnation: 3, kind: 'browser', weight: 1, capabilities: ['chat', 'game'] };
const join = { type: 'join', protocol: PROTOCOL_VERSION, room: 'lobby', peer };

function reason(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SignalingError);
    expect((err as SignalingError).code).toBe('SignalingError');
    return reasonOf(err);
  }
  throw new Error('expected a SignalingError');
}

const client = (value: unknown): string | undefined => reason(() => parseClientMessage(JSON.stringify(value)));

describe('parseClientMessage', () => {
  it('accepts every client message and returns clean copies', () => {
    expect(parseClientMessage(JSON.stringify(join))).toEqual(join);
    expect(parseClientMessage(JSON.stringify({ ...join, token: 't0k', extra: 1 }))).toEqual({ ...join, token: 't0k' });
    expect(parseClientMessage('{"type":"capabilities","capabilities":["b","a","b"]}')).toEqual({ type: 'capabilities', capabilities: ['a', 'b'] });
    expect(parseClientMessage('{"type":"signal","to":"x","data":{"sdp":"v=0"}}')).toEqual({ type: 'signal', to: 'x', data: { sdp: 'v=0' } });
    expect(parseClientMessage('{"type":"signal","to":"x","data":null}')).toEqual({ type: 'signal', to: 'x', data: null });
    expect(parseClientMessage('{"type":"leave"}')).toEqual({ type: 'leave' });
    expect(parseClientMessage('{"type":"ping"}')).toEqual({ type: 'ping' });
  });

  it('refuses malformed JSON, non-objects and unknown types', () => {
    expect(reason(() => parseClientMessage('{"type":'))).toBe('malformed-json');
    expect(reason(() => parseClientMessage(''))).toBe('malformed-json');
    expect(client([1])).toBe('invalid-field');
    expect(client('join')).toBe('invalid-field');
    expect(client(null)).toBe('invalid-field');
    expect(client({ type: 7 })).toBe('invalid-field');
    expect(client({ type: 'hello' })).toBe('unknown-type');
    expect(client({ type: 'welcome' })).toBe('unknown-type');
    expect(reason(() => parseClientMessage(42 as unknown as string))).toBe('not-text');
  });

  it('refuses wrong field types in join', () => {
    expect(client({ ...join, protocol: '1' })).toBe('invalid-field');
    expect(client({ ...join, protocol: 1.5 })).toBe('invalid-field');
    expect(client({ ...join, room: '' })).toBe('invalid-field');
    expect(client({ ...join, room: 'a b' })).toBe('invalid-field');
    expect(client({ ...join, room: 'r'.repeat(129) })).toBe('invalid-field');
    expect(client({ ...join, token: 5 })).toBe('invalid-field');
    expect(client({ ...join, token: 't'.repeat(4097) })).toBe('invalid-field');
    expect(client({ ...join, peer: undefined })).toBe('invalid-field');
    expect(client({ ...join, peer: [] })).toBe('invalid-field');
  });

  it('validates PeerInfo field by field', () => {
    const bad = (patch: Record<string, unknown>): string | undefined => client({ ...join, peer: { ...peer, ...patch } });
    expect(bad({ id: '' })).toBe('invalid-field');
    expect(bad({ id: 'x'.repeat(MAX_PEER_ID_LENGTH + 1) })).toBe('invalid-field');
    expect(bad({ id: 'a/b' })).toBe('invalid-field');
    expect(bad({ id: 'é' })).toBe('invalid-field');
    expect(bad({ incarnation: -1 })).toBe('invalid-field');
    expect(bad({ incarnation: 2 ** 53 })).toBe('invalid-field');
    expect(bad({ incarnation: 0.5 })).toBe('invalid-field');
    expect(bad({ kind: 'server' })).toBe('invalid-field');
    expect(bad({ weight: 0 })).toBe('invalid-field');
    expect(bad({ weight: -1 })).toBe('invalid-field');
    expect(bad({ weight: MAX_WEIGHT + 1 })).toBe('invalid-field');
    expect(bad({ weight: '1' })).toBe('invalid-field');
    expect(bad({ capabilities: 'chat' })).toBe('invalid-field');
    expect(bad({ capabilities: [''] })).toBe('invalid-field');
    expect(bad({ capabilities: ['x'.repeat(MAX_CAPABILITY_LENGTH + 1)] })).toBe('invalid-field');
    expect(bad({ capabilities: ['a\nb'] })).toBe('invalid-field');
    expect(bad({ capabilities: [1] })).toBe('invalid-field');
    expect(bad({ capabilities: Array.from({ length: MAX_CAPABILITIES + 1 }, (_, i) => `c${i}`) })).toBe('invalid-field');
    expect(validatePeerInfo({ ...peer, id: 'x'.repeat(MAX_PEER_ID_LENGTH), weight: MAX_WEIGHT, incarnation: 0 }).id).toHaveLength(MAX_PEER_ID_LENGTH);
    // The field path is reported.
    try {
      validatePeerInfo({ ...peer, capabilities: ['ok', ''] });
    } catch (err) {
      expect((err as SignalingError).details['field']).toBe('peer.capabilities[1]');
    }
  });

  it('refuses wrong field types in the other messages', () => {
    expect(client({ type: 'capabilities' })).toBe('invalid-field');
    expect(client({ type: 'capabilities', capabilities: [null] })).toBe('invalid-field');
    expect(client({ type: 'signal', to: 'x' })).toBe('invalid-field');
    expect(client({ type: 'signal', to: '', data: 1 })).toBe('invalid-field');
    expect(client({ type: 'signal', to: 5, data: 1 })).toBe('invalid-field');
  });

  it('refuses __proto__, constructor and prototype keys anywhere', () => {
    expect(reason(() => parseClientMessage('{"type":"ping","__proto__":{"polluted":1}}'))).toBe('forbidden-key');
    expect(reason(() => parseClientMessage('{"type":"signal","to":"x","data":{"a":[{"constructor":{}}]}}'))).toBe('forbidden-key');
    expect(reason(() => parseClientMessage('{"type":"signal","to":"x","data":{"prototype":1}}'))).toBe('forbidden-key');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('refuses non-finite numbers, deep nesting and over-long text', () => {
    expect(reason(() => parseClientMessage('{"type":"signal","to":"x","data":1e400}'))).toBe('non-finite-number');
    expect(reason(() => parseClientMessage(`{"type":"signal","to":"x","data":{"w":${'1e999'}}}`))).toBe('non-finite-number');
    const nested = (n: number): string => `{"type":"signal","to":"x","data":${'['.repeat(n)}${']'.repeat(n)}}`;
    expect(parseClientMessage(nested(MAX_DEPTH - 1)).type).toBe('signal');
    expect(reason(() => parseClientMessage(nested(MAX_DEPTH)))).toBe('too-deep');
    expect(reason(() => parseClientMessage(nested(200_000)))).toBe('too-large');
    expect(reason(() => parseClientMessage(nested(200_000), { maxChars: 1e7 }))).toBe('too-deep');
    expect(reason(() => parseClientMessage(`{"type":"signal","to":"x","data":"${'a'.repeat(70_000)}"}`))).toBe('too-large');
  });

  it('never throws anything but a SignalingError and never pollutes Object.prototype (fuzz)', () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const check = (text: string): void => {
      try {
        const msg = parseClientMessage(text);
        // Whatever parses re-encodes and parses again to the same thing.
        expect(parseClientMessage(encodeMessage(msg))).toEqual(msg);
      } catch (err) {
        if (!(err instanceof SignalingError) || !(err instanceof MeshError)) throw err;
        expect(typeof reasonOf(err)).toBe('string');
      }
    };
    const key = fc.constantFrom('type', 'to', 'data', 'room', 'peer', 'protocol', 'capabilities', 'id', '__proto__', 'constructor', 'token');
    // Mostly-valid messages with one or two things wrong reach the deep validation paths.
    const often = <T, U>(good: fc.Arbitrary<T>, any: fc.Arbitrary<U>): fc.Arbitrary<T | U> =>
      fc.oneof({ arbitrary: good, weight: 4 }, { arbitrary: any, weight: 1 });
    const caps = often(fc.array(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 5 }), fc.array(fc.string(), { maxLength: 70 }));
    const typed = fc.record(
      {
        type: fc.constantFrom('join', 'capabilities', 'signal', 'leave', 'ping', 'view', 'x'),
        protocol: often(fc.constant(1), fc.jsonValue()),
        room: often(fc.constant('lobby'), fc.string()),
        to: often(fc.constant('p'), fc.string()),
        data: fc.jsonValue(),
        token: often(fc.string({ maxLength: 20 }), fc.jsonValue()),
        capabilities: caps,
        peer: fc.record(
          {
            id: often(fc.stringMatching(/^[A-Za-z0-9._:-]{1,130}$/), fc.string()),
            incarnation: often(fc.nat(), fc.double()),
            kind: often(fc.constantFrom('browser', 'edge'), fc.jsonValue()),
            weight: often(fc.double({ min: 0, max: 1001, noNaN: true }), fc.jsonValue()),
            capabilities: caps,
          },
          { requiredKeys: ['id', 'incarnation', 'kind', 'weight', 'capabilities'] },
        ),
      },
      { requiredKeys: ['type', 'data'] },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.json({ maxDepth: 40 }),
          typed.map((m) => JSON.stringify(m)),
          fc.dictionary(key, fc.jsonValue({ maxDepth: 3 })).map((d) => JSON.stringify(d)),
          fc.jsonValue({ maxDepth: 4 }).map((v) => `{"type":"signal","to":"p","data":${JSON.stringify(v)},"__proto__":{"polluted":true}}`),
        ),
        (text) => check(text),
      ),
      { numRuns: 20_000, seed: 42 },
    );
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('parseServerMessage', () => {
  it('accepts every server message', () => {
    const welcome = { type: 'welcome', protocol: 1, epoch: 'e1', room: 'lobby', peerId: 'p', pingIntervalMs: 5000 };
    expect(parseServerMessage(JSON.stringify(welcome))).toEqual(welcome);
    const view = { type: 'view', room: 'lobby', epoch: 'e1', version: 4, peers: [peer] };
    expect(parseServerMessage(JSON.stringify(view))).toEqual(view);
    expect(parseServerMessage('{"type":"signal","from":"a","data":[1]}')).toEqual({ type: 'signal', from: 'a', data: [1] });
    expect(parseServerMessage('{"type":"error","code":"unknown-peer","message":"m","peer":"b"}')).toEqual({ type: 'error', code: 'unknown-peer', message: 'm', peer: 'b' });
    expect(parseServerMessage('{"type":"error","code":"some-new-code","message":""}')).toEqual({ type: 'error', code: 'some-new-code', message: '' });
    expect(parseServerMessage('{"type":"pong"}')).toEqual({ type: 'pong' });
  });

  it('refuses malformed server messages', () => {
    const server = (value: unknown): string | undefined => reason(() => parseServerMessage(JSON.stringify(value)));
    expect(server({ type: 'join' })).toBe('unknown-type');
    expect(server({ type: 'view', room: 'r', epoch: 'e', version: -1, peers: [] })).toBe('invalid-field');
    expect(server({ type: 'view', room: 'r', epoch: 'e', version: 1, peers: [peer, peer] })).toBe('invalid-field');
    expect(server({ type: 'view', room: 'r', epoch: 'e', version: 1, peers: [{ ...peer, weight: 0 }] })).toBe('invalid-field');
    expect(server({ type: 'view', room: 'r', epoch: '', version: 1, peers: [] })).toBe('invalid-field');
    expect(server({ type: 'error', code: '', message: 'm' })).toBe('invalid-field');
    expect(server({ type: 'error', code: 'x', message: 'm'.repeat(2000) })).toBe('invalid-field');
    expect(server({ type: 'welcome', protocol: 1, epoch: 'e', room: 'r', peerId: 'p', pingIntervalMs: 0 })).toBe('invalid-field');
    expect(server({ type: 'signal', from: 'a' })).toBe('invalid-field');
  });

  it('never throws anything but a SignalingError (fuzz)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json({ maxDepth: 10 })), (text) => {
        try {
          parseServerMessage(text);
        } catch (err) {
          if (!(err instanceof SignalingError)) throw err;
        }
      }),
      { numRuns: 5_000, seed: 7 },
    );
  });
});
