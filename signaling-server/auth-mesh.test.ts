/**
 * Authenticated rooms on the real stack: a signaling server requiring room tokens, and Node peers (createMesh,
 * node-datachannel over 127.0.0.1) that join with tokens minted by `mintRoomToken` and call each other over
 * WebRTC; peers with a missing, foreign, expired or too narrow token are refused with a typed error by
 * `createMesh` itself, and never appear in anybody's view.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createMesh, defineActor, isMeshError, type Mesh } from '../src/index.js';
import { mintRoomToken } from './auth.js';
import { createSignalingServer, type SignalingServer } from './server.js';

const secret = 'mesh-test-secret-of-at-least-32-bytes';
const Counter = defineActor({
  type: 'counter',
  initialState: () => ({ count: 0 }),
  handlers: { add: (state, by: number) => (state.count += by) },
});

describe('authenticated room on the real stack', () => {
  let server: SignalingServer | undefined;
  const meshes: Mesh[] = [];
  afterAll(async () => {
    await Promise.all(meshes.map((m) => m.close()));
    await server?.close();
  });

  const peer = async (peerId: string, capabilities: string[], token: string | undefined): Promise<Mesh> => {
    const mesh = await createMesh({
      signalingUrl: server!.url,
      room: 'secure',
      peerId,
      capabilities,
      actors: [Counter],
      engine: 'node-datachannel',
      loopbackOnly: true,
      ...(token === undefined ? {} : { token }),
    });
    meshes.push(mesh);
    return mesh;
  };
  const refusal = (p: Promise<unknown>): Promise<string> =>
    p.then(
      () => 'admitted',
      (e: unknown) => (isMeshError(e) ? `${e.code}/${String(e.details['reason'])}` : `untyped: ${String(e)}`),
    );

  it('admits peers with valid tokens (they call each other over WebRTC) and refuses the others with typed errors', async () => {
    server = await createSignalingServer({ auth: { secret }, logger: false });
    const a = await peer('a', ['game'], await mintRoomToken({ secret, room: 'secure', peer: 'a', capabilities: ['game'] }));
    // A token provider: called before every join.
    const b = await createMesh({
      signalingUrl: server.url,
      room: 'secure',
      peerId: 'b',
      capabilities: ['game'],
      actors: [Counter],
      engine: 'node-datachannel',
      loopbackOnly: true,
      token: () => mintRoomToken({ secret, room: 'secure', peer: 'b', ttl: '5m' }),
    });
    meshes.push(b);
    const deadline = Date.now() + 10_000;
    while (a.table.peers.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Calls in both directions cross the WebRTC link.
    const remote = new Set<string>();
    for (let i = 0; i < 20; i++) {
      for (const caller of [a, b]) {
        const r = await caller.call({ capability: 'game', type: 'counter', id: `c${i}`, payload: { op: 'add', arg: 1 } }, { timeoutMs: 5000 });
        if (r.peerId !== caller.peerId) remote.add(`${caller.peerId}->${r.peerId}`);
      }
    }
    expect([...remote].sort()).toEqual(['a->b', 'b->a']);

    expect(await refusal(peer('c', ['game'], undefined))).toBe('Unauthorized/token-missing');
    expect(await refusal(peer('c', ['game'], await mintRoomToken({ secret: 'not-the-server-secret-but-32-bytes!!', room: 'secure', peer: 'c' })))).toBe(
      'Unauthorized/token-invalid',
    );
    expect(await refusal(peer('c', ['game'], await mintRoomToken({ secret, room: 'secure', peer: 'c', ttl: 60, now: Date.now() - 3_600_000 })))).toBe(
      'Unauthorized/token-expired',
    );
    // Impersonation: a's token used by another process to join as a, and a token for c used for a.
    expect(await refusal(peer('c', ['game'], await mintRoomToken({ secret, room: 'secure', peer: 'a' })))).toBe('Forbidden/peer-mismatch');
    expect(await refusal(peer('c', ['game', 'admin'], await mintRoomToken({ secret, room: 'secure', peer: 'c', capabilities: ['game'] })))).toBe(
      'Forbidden/capability-not-granted',
    );
    expect(await refusal(peer('c', ['game'], await mintRoomToken({ secret, room: 'elsewhere', peer: 'c' })))).toBe('Forbidden/room-mismatch');
    expect(server.rooms()[0]!.peers.map((p) => p.id)).toEqual(['a', 'b']);
    expect(a.table.peers.map((p) => p.id)).toEqual(['a', 'b']);
  }, 60_000);
});
