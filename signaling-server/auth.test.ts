import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { createRoomAuthenticator, mintRoomToken, notGranted, parseTtl, type AuthResult } from './auth.js';

const secret = 'a-test-secret-of-at-least-32-bytes!!';
const T0 = Date.UTC(2030, 0, 1);
const join = { room: 'room', peerId: 'p1', capabilities: ['game'] };

function refusal(r: AuthResult): string {
  return r.ok ? 'ok' : r.reason;
}

describe('room tokens', () => {
  it('mints an HS256 token that the authenticator accepts, with its grant', async () => {
    const auth = await createRoomAuthenticator({ secret, now: () => T0 });
    const token = await mintRoomToken({ secret, room: 'room', peer: 'p1', capabilities: ['game', 'chat'], ttl: '1h', now: T0 });
    const [header, payload] = token.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>);
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(payload).toEqual({ room: 'room', sub: 'p1', caps: ['chat', 'game'], iat: T0 / 1000, exp: T0 / 1000 + 3600 });
    const r = await auth.check(token, join);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.grant?.peerId).toBe('p1');
      expect([...(r.grant?.capabilities ?? [])].sort()).toEqual(['chat', 'game']);
      expect(r.grant?.expiresAt).toBe(T0 + 3_600_000);
      expect(notGranted(r.grant, ['chat', 'admin'])).toEqual(['admin']);
    }
  });

  it('refuses missing, malformed, forged, expired and not-yet-valid tokens with distinct reasons', async () => {
    let now = T0;
    const auth = await createRoomAuthenticator({ secret, now: () => now, clockToleranceSec: 5 });
    const good = await mintRoomToken({ secret, room: 'room', peer: 'p1', ttl: 60, now: T0 });
    expect(refusal(await auth.check(undefined, join))).toBe('token-missing');
    expect(refusal(await auth.check('', join))).toBe('token-missing');
    expect(refusal(await auth.check('not.a.jwt', join))).toBe('token-invalid');
    expect(refusal(await auth.check('x'.repeat(4000), join))).toBe('token-invalid');
    // Signed with another secret.
    const forged = await mintRoomToken({ secret: 'another-secret-that-is-32-bytes-long!', room: 'room', peer: 'p1', now: T0 });
    expect(refusal(await auth.check(forged, join))).toBe('token-invalid');
    // A payload changed after signing.
    const [h, , sig] = good.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ room: 'room', sub: 'admin', iat: T0 / 1000 })).toString('base64url')}.${sig}`;
    expect(refusal(await auth.check(tampered, { ...join, peerId: 'admin' }))).toBe('token-invalid');
    // alg "none".
    const unsecured = new UnsecuredJWT({ room: 'room' }).setSubject('p1').encode();
    expect(refusal(await auth.check(unsecured, join))).toBe('token-invalid');
    // Valid now, expired after its ttl plus the tolerance; the message says when.
    expect(refusal(await auth.check(good, join))).toBe('ok');
    now = T0 + 64_000;
    expect(refusal(await auth.check(good, join))).toBe('ok');
    now = T0 + 66_000;
    const expired = await auth.check(good, join);
    expect(refusal(expired)).toBe('token-expired');
    expect(expired.ok ? '' : expired.message).toContain(new Date(T0 + 60_000).toISOString());
    // Not valid before its nbf.
    now = T0;
    const future = await new SignJWT({ room: 'room' }).setProtectedHeader({ alg: 'HS256' }).setSubject('p1').setNotBefore(T0 / 1000 + 600).sign(new TextEncoder().encode(secret));
    expect(refusal(await auth.check(future, join))).toBe('token-invalid');
  });

  it('refuses a token for another room, another peer, or without a grant for an announced capability', async () => {
    const auth = await createRoomAuthenticator({ secret, now: () => T0 });
    const token = await mintRoomToken({ secret, room: 'room', peer: 'p1', capabilities: ['chat'], now: T0 });
    expect(refusal(await auth.check(token, { ...join, room: 'other' }))).toBe('room-mismatch');
    expect(refusal(await auth.check(token, { ...join, peerId: 'p2' }))).toBe('peer-mismatch');
    const notGrantedResult = await auth.check(token, join);
    expect(refusal(notGrantedResult)).toBe('capability-not-granted');
    expect(notGrantedResult.ok ? '' : notGrantedResult.message).toContain('"game"');
    expect(refusal(await auth.check(token, { ...join, capabilities: [] }))).toBe('ok');
    // Claims of the wrong shape.
    const key = new TextEncoder().encode(secret);
    const noRoom = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('p1').sign(key);
    expect(refusal(await auth.check(noRoom, join))).toBe('token-invalid');
    const badCaps = await new SignJWT({ room: 'room', caps: 'game' }).setProtectedHeader({ alg: 'HS256' }).setSubject('p1').sign(key);
    expect(refusal(await auth.check(badCaps, join))).toBe('token-invalid');
    const badSub = await new SignJWT({ room: 'room' }).setProtectedHeader({ alg: 'HS256' }).setSubject('bad id!').sign(key);
    expect(refusal(await auth.check(badSub, join))).toBe('token-invalid');
  });

  it('checks issuer and audience when configured', async () => {
    const auth = await createRoomAuthenticator({ secret, issuer: 'https://issuer.example', audience: 'meshrtc', now: () => T0 });
    const plain = await mintRoomToken({ secret, room: 'room', peer: 'p1', now: T0 });
    expect(refusal(await auth.check(plain, join))).toBe('token-invalid');
    const full = await mintRoomToken({ secret, room: 'room', peer: 'p1', issuer: 'https://issuer.example', audience: 'meshrtc', now: T0 });
    expect(refusal(await auth.check(full, join))).toBe('ok');
  });

  it('verifies asymmetric tokens (PEM, JWK) and refuses an HS256 token made with the public key as secret', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const auth = await createRoomAuthenticator({ publicKey: publicPem, now: () => T0 });
    const token = await mintRoomToken({ privateKey: privatePem, room: 'room', peer: 'p1', now: T0 });
    expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())).toMatchObject({ alg: 'ES256' });
    expect(refusal(await auth.check(token, join))).toBe('ok');
    // Algorithm confusion: HS256 keyed with the public key's bytes.
    const confused = await new SignJWT({ room: 'room' }).setProtectedHeader({ alg: 'HS256' }).setSubject('p1').sign(new TextEncoder().encode(publicPem));
    expect(refusal(await auth.check(confused, join))).toBe('token-invalid');

    const ed = await generateKeyPair('EdDSA', { extractable: true });
    const edAuth = await createRoomAuthenticator({ publicKey: await exportJWK(ed.publicKey), now: () => T0 });
    const edToken = await mintRoomToken({ privateKey: await exportJWK(ed.privateKey), room: 'room', peer: 'p1', now: T0 });
    expect(refusal(await edAuth.check(edToken, join))).toBe('ok');
    expect(refusal(await edAuth.check(token, join))).toBe('token-invalid'); // ES256 token, EdDSA server
  });

  it('refuses bad configuration early', async () => {
    await expect(createRoomAuthenticator({})).rejects.toThrow(/exactly one/);
    await expect(createRoomAuthenticator({ secret: 'short' })).rejects.toThrow(/at least 32 bytes/);
    await expect(createRoomAuthenticator({ secret, algorithm: 'ES256' })).rejects.toThrow(/HS256/);
    const ed = await generateKeyPair('EdDSA', { extractable: true });
    await expect(createRoomAuthenticator({ publicKey: await exportJWK(ed.privateKey) })).rejects.toThrow(/public part/);
    await expect(mintRoomToken({ secret, room: 'bad room', peer: 'p1' })).rejects.toThrow(/room/);
    await expect(mintRoomToken({ secret, room: 'room', peer: 'p1', ttl: 'soon' })).rejects.toThrow(/ttl/);
  });

  it('parses lifetimes', () => {
    expect([parseTtl(90), parseTtl('90'), parseTtl('90s'), parseTtl('30m'), parseTtl('1h'), parseTtl('7d')]).toEqual([90, 90, 90, 1800, 3600, 604_800]);
    for (const bad of ['', '1w', '-1h', 'h', '1.5h']) expect(() => parseTtl(bad)).toThrow(RangeError);
    expect(() => parseTtl(0)).toThrow(RangeError);
  });

  it('protects only the rooms the predicate names; a throwing predicate fails closed', async () => {
    const auth = await createRoomAuthenticator({ secret, protects: (room) => room.startsWith('private-') });
    expect([auth.protects('private-a'), auth.protects('lobby')]).toEqual([true, false]);
    const broken = await createRoomAuthenticator({
      secret,
      protects: () => {
        throw new Error('boom');
      },
    });
    expect(broken.protects('lobby')).toBe(true);
  });
});
