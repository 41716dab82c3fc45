/**
 * Fuzz on the real wire: three Node peers (createMesh, node-datachannel over 127.0.0.1, a real signaling
 * server). Peer B writes hostile data-channel messages straight onto its channel to A, below the framing layer;
 * meanwhile A keeps calling C. A refuses each message (framing errors reset the A-B link with a typed
 * `ProtocolError`; bad frames inside good framing are dropped and counted), B gets back in with its next call,
 * and the A-C link never notices: not one reconnection, not one failed call.
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { afterAll, describe, expect, it } from 'vitest';
import { createSignalingServer, type SignalingServer } from '../../signaling-server/server.js';
import { Kind } from '../../src/actors/protocol.js';
import { WIRE_MARKER } from '../../src/actors/wire.js';
import { createMesh, defineActor, isMeshError, loadNodeEngine, type Mesh } from '../../src/index.js';
import { FRAMING_MAGIC, FRAMING_VERSION, RecordKind } from '../../src/transport/framing.js';
import { freezableEngine } from '../../src/transport/webrtc-testkit.js';
import type { WebRtcTransport } from '../../src/transport/webrtc.js';
import { FUZZ, FUZZ_RUNS, FUZZ_TIMEOUT_MS, Tally, assertPrototypesUnchanged } from './support.js';

const rawPackr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

const Echo = defineActor({ type: 'echo', durability: 'memory', initialState: () => ({}), handlers: { echo: (_s, arg: unknown) => arg } });

/** A data-channel message made of one record of `kind` around `body`, with an optional lie in its length. */
function message(body: Uint8Array, kind: number = RecordKind.Frame, version = FRAMING_VERSION, lie = 0): Uint8Array {
  const header = [FRAMING_MAGIC, version, kind];
  // The record length as a varint (LEB128).
  for (let n = Math.max(0, body.byteLength + lie); ; n = Math.floor(n / 0x80)) {
    if (n < 0x80) {
      header.push(n);
      break;
    }
    header.push((n % 0x80) | 0x80);
  }
  const out = new Uint8Array(header.length + body.byteLength);
  out.set(header);
  out.set(body, header.length);
  return out;
}

const hostileArb: fc.Arbitrary<{ kind: string; bytes: Uint8Array }> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => ({ kind: 'random bytes', bytes })),
  fc.integer({ min: 2, max: 255 }).map((v) => ({ kind: 'framing version', bytes: message(Uint8Array.of(0x90), RecordKind.Frame, v) })),
  fc.integer({ min: 1, max: 1000 }).map((lie) => ({ kind: 'lying length', bytes: message(new Uint8Array(8), RecordKind.Frame, FRAMING_VERSION, lie) })),
  fc.integer({ min: 0x13, max: 0xff }).map((k) => ({ kind: 'unknown record', bytes: message(new Uint8Array(3), k) })),
  fc.uint8Array({ maxLength: 40 }).map((b) => ({ kind: 'garbage frame', bytes: message(b) })),
  fc.uint8Array({ maxLength: 40 }).map((b) => ({ kind: 'shared-prefix record', bytes: message(b, RecordKind.FrameShared) })),
  fc
    .tuple(fc.integer({ min: -1, max: 20 }), fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null)), { maxLength: 10 }))
    .map(([k, fields]) => ({ kind: 'hostile frame', bytes: message(rawPackr.pack([k, ...fields]) as Uint8Array) })),
  fc.constantFrom('__proto__', 'constructor').map((key) => ({
    kind: 'proto key',
    bytes: message(rawPackr.pack([Kind.Call, 9, 'game', 'echo', 'x', 'echo', JSON.parse(`{"${key}":{"polluted":true}}`), 0, '', 1000]) as Uint8Array),
  })),
  fc
    .tuple(fc.constantFrom(Kind.Call, Kind.Cast, Kind.Reply, Kind.Event, 0, 99), fc.uint8Array({ maxLength: 30 }))
    .map(([k, rest]) => ({ kind: 'hostile binary frame', bytes: message(Uint8Array.from([WIRE_MARKER, k, ...rest])) })),
  fc.constant({ kind: 'deep nesting', bytes: message(Uint8Array.from({ length: 10_001 }, (_, i) => (i === 10_000 ? 0xc0 : 0x91))) }),
);

describe('fuzz: hostile data-channel messages on a real WebRTC mesh', () => {
  let server: SignalingServer | undefined;
  const meshes: Mesh[] = [];
  afterAll(async () => {
    await Promise.all(meshes.map((m) => m.close()));
    await server?.close();
  });

  it(
    'A refuses every hostile message from B; the A-C link is never disturbed',
    async () => {
      server = await createSignalingServer({ logger: false });
      const ndc = await loadNodeEngine('node-datachannel');
      const hostile = freezableEngine(ndc);
      const bystander = freezableEngine(ndc);
      const start = async (peerId: string, engine: typeof ndc): Promise<Mesh> => {
        const m = await createMesh({ signalingUrl: server!.url, room: 'wire', peerId, capabilities: ['game'], actors: [Echo], engine, loopbackOnly: true, defaultTimeoutMs: 5000 });
        meshes.push(m);
        return m;
      };
      const a = await start('a', ndc);
      const b = await start('b', hostile.engine);
      const c = await start('c', bystander.engine);
      const deadline = Date.now() + 10_000;
      while (meshes.some((m) => m.table.peers.length < 3) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const idOwnedBy = (owner: string, prefix: string): string => {
        for (let i = 0; ; i++) if (a.ownerOf('game', `${prefix}${i}`) === owner) return `${prefix}${i}`;
      };
      const onA = idOwnedBy('a', 'on-a-');
      const onC = idOwnedBy('c', 'on-c-');
      const echo = (id: string, arg: unknown) => ({ capability: 'game', type: 'echo', id, payload: { op: 'echo', arg } });
      // Links: B-A (B calls A) and A-C (A calls C). B and C never talk, so B's raw channel leads to A only.
      /** B calls A until it gets through (its link may have just been reset by A). */
      const bReachesA = async (): Promise<number> => {
        for (let attempt = 1; attempt <= 20; attempt++) {
          try {
            await b.call(echo(onA, attempt));
            return attempt;
          } catch (e) {
            if (!isMeshError(e)) throw e;
            await new Promise((r) => setTimeout(r, 20));
          }
        }
        throw new Error('B could not reach A again');
      };
      await bReachesA();
      expect((await a.call(echo(onC, 'hello'))).peerId).toBe('c');
      const cConnections = bystander.created;
      const aTransport = a.transport as WebRtcTransport;
      const before = { protocolErrors: aTransport.stats().protocolErrors, dropped: a.stats().framesDropped };

      const tally = new Tally();
      let aToC = 0;
      let retries = 0;
      await fc.assert(
        fc.asyncProperty(hostileArb, async ({ kind, bytes }) => {
          const channels = hostile.sendRaw(bytes);
          if (channels !== 1) throw new Error(`B has ${channels} open channels, expected 1 (to A)`);
          tally.add(kind);
          retries += (await bReachesA()) - 1;
          // A-C: every call succeeds at once.
          const r = await a.call(echo(onC, aToC));
          if (r.peerId !== 'c' || r.reply !== aToC) throw new Error(`A-C call ${aToC}: ${JSON.stringify(r)}`);
          aToC++;
        }),
        { ...FUZZ, numRuns: Math.max(1, Math.ceil(FUZZ_RUNS / 500)) },
      );
      const resets = aTransport.stats().protocolErrors - before.protocolErrors;
      const dropped = a.stats().framesDropped - before.dropped;
      console.log(`wire: ${tally}; A reset the B link ${resets} times (typed ProtocolError) and dropped ${dropped} frames; B retried ${retries} calls; ${aToC} A-C calls, C opened ${bystander.created - cConnections} new connections`);
      expect(resets).toBeGreaterThan(0);
      expect(dropped).toBeGreaterThan(0);
      expect(bystander.created).toBe(cConnections);
      expect(c.table.peers.map((p) => p.id)).toEqual(['a', 'b', 'c']);
      assertPrototypesUnchanged();
    },
    FUZZ_TIMEOUT_MS,
  );
});
