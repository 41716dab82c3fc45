/**
 * Fuzz: the signaling message handler. The bulk goes through the parsers the server and the client run on every
 * frame (`parseClientMessage`, `parseServerMessage` in src/signaling/messages.ts): random text, random JSON,
 * mutated valid messages, 10,000-deep nesting, `__proto__`/`constructor` keys, unknown types, protocol-version
 * mismatches, wrong field types and sizes. A subset goes to a real server over real sockets, next to two joined
 * peers that keep relaying: every hostile socket is answered with a typed refusal and closed (1008, or 1009 for
 * oversized frames) or keeps working when its input was valid; the bystanders never notice.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createSignalingServer, type SignalingServer } from '../../signaling-server/server.js';
import { SignalingError } from '../../src/errors.js';
import {
  ID_PATTERN,
  PROTOCOL_VERSION,
  parseClientMessage,
  parseServerMessage,
  reasonOf,
  type ClientMessage,
  type ServerMessage,
} from '../../src/signaling/messages.js';
import { FUZZ, FUZZ_RUNS, FUZZ_TIMEOUT_MS, Tally, assertNoPrototypePollution, assertPrototypesUnchanged } from './support.js';

/** Every reason a parser may give (SignalingReason, parser part). */
const PARSE_REASONS = new Set(['malformed-json', 'not-text', 'too-large', 'too-deep', 'forbidden-key', 'non-finite-number', 'unknown-type', 'invalid-field']);
/** Every reason the server may refuse a socket with. */
const SERVER_REASONS = new Set([
  ...PARSE_REASONS,
  'unsupported-protocol',
  'not-joined',
  'already-joined',
  'stale-incarnation',
  'duplicate-peer',
  'room-full',
  'rate-limited',
  'unknown-peer',
]);

const peerArb = fc.record(
  {
    id: fc.oneof(fc.constantFrom('a', 'b', 'fuzz-1', '', 'x'.repeat(129), 'bad id', '__proto__'), fc.string({ maxLength: 10 })),
    incarnation: fc.oneof(fc.nat(), fc.constantFrom(-1, 1.5, '1', null, 2 ** 60)),
    kind: fc.constantFrom('edge', 'browser', 'robot', 7),
    weight: fc.oneof(fc.double({ min: -1, max: 2000, noNaN: false }), fc.constantFrom(1, 0, '1')),
    capabilities: fc.oneof(fc.array(fc.string({ maxLength: 6 }), { maxLength: 5 }), fc.constantFrom('all', null, Array(70).fill('c'), ['\u0000'])),
  },
  { requiredKeys: ['id', 'incarnation', 'kind', 'weight', 'capabilities'] },
);

/** Mutated versions of every client message type, plus unknown types. */
const clientValueArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({
    type: fc.constant('join'),
    protocol: fc.oneof({ weight: 3, arbitrary: fc.constant(PROTOCOL_VERSION) }, { weight: 1, arbitrary: fc.oneof(fc.integer({ min: -2, max: 9 }), fc.constantFrom('1', 1.5, null)) }),
    room: fc.oneof(fc.constantFrom('room', 'fuzz', '', 'r'.repeat(129), 'bad room'), fc.string({ maxLength: 8 })),
    peer: peerArb,
    token: fc.option(fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom(7, 'x'.repeat(5000))), { nil: undefined }),
    resume: fc.option(fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom(1, 'r'.repeat(65))), { nil: undefined }),
  }),
  fc.record({ type: fc.constant('capabilities'), capabilities: fc.oneof(fc.array(fc.string({ maxLength: 6 }), { maxLength: 5 }), fc.constantFrom('all', {}, null)) }),
  fc.record({ type: fc.constant('signal'), to: fc.oneof(fc.constantFrom('a', 'b', 'nobody', ''), fc.string({ maxLength: 6 })), data: fc.jsonValue({ maxDepth: 4 }) }),
  fc.constantFrom<Record<string, unknown>>({ type: 'leave' }, { type: 'ping' }, { type: 'pong' }, { type: 'welcome' }, { type: 'teleport' }, { type: 7 }, {}),
  fc.string({ maxLength: 12 }).map((type) => ({ type })),
);

/** `depth` nested arrays as JSON text. */
const deepJson = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
const deepObjectJson = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

/** Any text a peer could send. */
const clientTextArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: clientValueArb.map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: fc.string({ maxLength: 60 }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(clientValueArb, fc.constantFrom('__proto__', 'constructor', 'prototype'), fc.constantFrom('top', 'peer', 'data'))
      .map(([v, key, where]) => {
        const text = JSON.stringify(v);
        const evil = `"${key}":{"polluted":true,"prototype":{"polluted":true}}`;
        if (where === 'top' || !text.includes(`"${where}":{`)) return text.replace(/^\{/, `{${evil},`);
        return text.replace(`"${where}":{`, `"${where}":{${evil},`);
      }),
  },
  { weight: 1, arbitrary: fc.constantFrom(deepJson(10_000), deepObjectJson(10_000), deepJson(33), deepJson(31), `{"type":"signal","to":"a","data":${deepJson(40)}}`) },
  { weight: 1, arbitrary: fc.constantFrom('{"type":"signal","to":"a","data":1e999}', '{"type":"join",', '', ' ', 'null', '"join"', '[]', '{"type":"join"}\u0000') },
  {
    weight: 1,
    arbitrary: fc.tuple(clientValueArb, fc.nat({ max: 200 })).map(([v, cut]) => {
      const text = JSON.stringify(v);
      return text.slice(0, Math.max(0, text.length - 1 - cut));
    }),
  },
);

/** A parsed client message carries only known fields of the right types. */
function checkClientMessage(m: ClientMessage): void {
  switch (m.type) {
    case 'join':
      if (!Number.isSafeInteger(m.protocol) || m.protocol < 0) throw new Error('join.protocol');
      if (!ID_PATTERN.test(m.room) || !ID_PATTERN.test(m.peer.id)) throw new Error('join ids');
      if (m.peer.capabilities.some((c, i, a) => i > 0 && a[i - 1]! >= c)) throw new Error('capabilities not sorted and unique');
      if (!(m.peer.weight > 0 && Number.isFinite(m.peer.weight))) throw new Error('weight');
      if (Object.keys(m.peer).sort().join() !== 'capabilities,id,incarnation,kind,weight') throw new Error('extra peer fields');
      return;
    case 'capabilities':
    case 'signal':
    case 'leave':
    case 'ping':
      return;
    default:
      throw new Error(`unknown parsed type ${(m as { type: string }).type}`);
  }
}

function parseOutcome(parse: () => unknown, tally: Tally): unknown {
  try {
    const m = parse();
    tally.add('valid');
    return m;
  } catch (e) {
    if (!(e instanceof SignalingError) || e.code !== 'SignalingError') throw new Error(`untyped parse failure: ${String(e)}`);
    const reason = reasonOf(e);
    if (reason === undefined || !PARSE_REASONS.has(reason)) throw new Error(`unexpected reason ${String(reason)}`);
    tally.add(reason);
    return undefined;
  }
}

describe(`fuzz: signaling messages (${FUZZ_RUNS} inputs per property)`, () => {
  it(
    'server-side parser: every frame is a valid message or a typed refusal',
    () => {
      const tally = new Tally();
      fc.assert(
        fc.property(clientTextArb, (text) => {
          const m = parseOutcome(() => parseClientMessage(text), tally) as ClientMessage | undefined;
          if (m !== undefined) checkClientMessage(m);
          assertNoPrototypePollution();
        }),
        FUZZ,
      );
      console.log(`signaling/client-messages: ${tally}`);
      for (const reason of ['valid', 'malformed-json', 'too-deep', 'forbidden-key', 'unknown-type', 'invalid-field', 'non-finite-number']) {
        expect(tally.get(reason), reason).toBeGreaterThan(0);
      }
      assertPrototypesUnchanged();
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'client-side parser: hostile server frames are refused with a typed error',
    () => {
      const tally = new Tally();
      const serverValueArb = fc.oneof(
        fc.record({ type: fc.constant('welcome'), protocol: fc.oneof(fc.nat(3), fc.constant('1')), epoch: fc.string({ maxLength: 8 }), room: fc.string({ maxLength: 8 }), peerId: fc.string({ maxLength: 8 }), pingIntervalMs: fc.integer({ min: -1, max: 10_000 }), resume: fc.option(fc.string({ maxLength: 70 }), { nil: undefined }) }),
        fc.record({ type: fc.constant('view'), room: fc.constantFrom('room', ''), epoch: fc.constantFrom('e1', ''), version: fc.oneof(fc.nat(), fc.constant(-1)), peers: fc.array(peerArb, { maxLength: 4 }) }),
        fc.record({ type: fc.constant('signal'), from: fc.string({ maxLength: 8 }), data: fc.jsonValue({ maxDepth: 3 }) }),
        fc.record({ type: fc.constant('error'), code: fc.oneof(fc.string({ maxLength: 70 }), fc.constant(3)), message: fc.string({ maxLength: 20 }) }),
        fc.constantFrom<Record<string, unknown>>({ type: 'pong' }, { type: 'join' }, { type: 'nope' }),
      );
      fc.assert(
        fc.property(fc.oneof({ weight: 4, arbitrary: serverValueArb.map((v) => JSON.stringify(v)) }, { weight: 1, arbitrary: clientTextArb }), (text) => {
          parseOutcome(() => parseServerMessage(text), tally) as ServerMessage | undefined;
          assertNoPrototypePollution();
        }),
        { ...FUZZ, numRuns: Math.max(1, Math.floor(FUZZ_RUNS / 2)) },
      );
      console.log(`signaling/server-messages: ${tally}`);
      expect(tally.get('valid')).toBeGreaterThan(0);
      expect(tally.get('invalid-field')).toBeGreaterThan(0);
      assertPrototypesUnchanged();
    },
    FUZZ_TIMEOUT_MS,
  );

  describe('on a real server, next to two peers that keep relaying', () => {
    let server: SignalingServer;
    let a: WebSocket;
    let b: WebSocket;
    const relayed: unknown[] = [];
    beforeAll(async () => {
      server = await createSignalingServer({ logger: false, rateLimit: { perSecond: 1000, burst: 1000 } });
      const joinAs = async (id: string): Promise<WebSocket> => {
        const ws = new WebSocket(server.url);
        await new Promise((resolve, reject) => {
          ws.once('open', resolve);
          ws.once('error', reject);
        });
        ws.send(JSON.stringify({ type: 'join', protocol: PROTOCOL_VERSION, room: 'room', peer: { id, incarnation: 1, kind: 'edge', weight: 1, capabilities: [] } }));
        await new Promise<void>((resolve) => ws.once('message', () => resolve()));
        return ws;
      };
      a = await joinAs('a');
      b = await joinAs('b');
      b.on('message', (d) => {
        const m = JSON.parse(String(d)) as { type: string; from?: string; data?: unknown };
        // Joined fuzz sockets may signal b too: only a's relays are the bystanders' own traffic.
        if (m.type === 'signal' && m.from === 'a') relayed.push(m.data);
      });
    });
    afterAll(async () => {
      a.terminate();
      b.terminate();
      await server.close();
    });

    it(
      'every hostile socket gets a typed refusal and a policy close, or keeps working; bystanders never notice',
      async () => {
        const tally = new Tally();
        let n = 0;
        await fc.assert(
          fc.asyncProperty(fc.boolean(), fc.array(clientTextArb, { minLength: 1, maxLength: 3 }), async (joinFirst, texts) => {
            const ws = new WebSocket(server.url, { maxPayload: 1024 * 1024 });
            const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
            ws.on('error', () => {});
            const received: Array<{ type: string; code?: string }> = [];
            let wake = (): void => {};
            ws.on('message', (d) => {
              received.push(JSON.parse(String(d)) as { type: string; code?: string });
              wake();
            });
            await new Promise((resolve) => ws.once('open', resolve));
            const id = `fuzz-${++n}`;
            if (joinFirst) ws.send(JSON.stringify({ type: 'join', protocol: PROTOCOL_VERSION, room: 'room', peer: { id, incarnation: 1, kind: 'edge', weight: 1, capabilities: [] } }));
            for (const t of texts) ws.send(t);
            ws.send('{"type":"ping"}'); // answered with pong if the socket survived what came before
            const outcome = await Promise.race([
              closed.then((code) => `closed ${code}`),
              new Promise<string>((resolve) => {
                wake = () => received.some((m) => m.type === 'pong') && resolve('alive');
                wake();
              }),
            ]);
            for (const m of received) {
              if (m.type === 'error' && !SERVER_REASONS.has(m.code ?? '')) throw new Error(`unexpected refusal ${String(m.code)}`);
            }
            if (outcome !== 'alive') {
              const code = Number(outcome.split(' ')[1]);
              if (code !== 1008 && code !== 1000 && code !== 1009) throw new Error(`closed with ${code}`);
              // A policy close always comes with a typed error first.
              if (code === 1008 && !received.some((m) => m.type === 'error')) throw new Error('closed 1008 without an error message');
              tally.add(`closed ${code}`);
            } else tally.add('alive');
            ws.terminate();
            await closed;
            // The bystanders relay through it all.
            a.send(JSON.stringify({ type: 'signal', to: 'b', data: n }));
          }),
          { ...FUZZ, numRuns: Math.max(1, Math.ceil(FUZZ_RUNS / 100)) },
        );
        const deadline = Date.now() + 5000;
        while (relayed.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        console.log(`signaling/real-server: ${n} hostile sockets; ${tally}; ${relayed.length} bystander relays`);
        expect(relayed).toEqual(Array.from({ length: n }, (_, i) => i + 1));
        expect(a.readyState).toBe(WebSocket.OPEN);
        expect(b.readyState).toBe(WebSocket.OPEN);
        expect(server.rooms().map((r) => r.peers.map((p) => p.id))).toEqual([['a', 'b']]);
        expect(tally.get('closed 1008')).toBeGreaterThan(0);
        assertPrototypesUnchanged();
      },
      FUZZ_TIMEOUT_MS,
    );
  });
});
