import { createSocket, type Socket } from 'node:dgram';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  STUN_ATTR_XOR_MAPPED_ADDRESS,
  STUN_BINDING_SUCCESS,
  STUN_MAGIC_COOKIE,
  crc32,
  decodeXorMappedAddress,
  encodeBindingSuccess,
  parseStunMessage,
  startStunServer,
  stunResponseFor,
  type StunServer,
} from './stun.js';

function bindingRequest(txid: Uint8Array, attributes: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(20 + attributes.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, 0x0001);
  view.setUint16(2, attributes.length);
  view.setUint32(4, STUN_MAGIC_COOKIE);
  out.set(txid, 8);
  out.set(attributes, 20);
  return out;
}

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// RFC 5769 section 2.2, "Sample IPv4 Response": a Binding success carrying SOFTWARE, XOR-MAPPED-ADDRESS
// (192.0.2.1:32853), MESSAGE-INTEGRITY and FINGERPRINT.
const RFC5769_IPV4_RESPONSE = hex(`
  0101003c 2112a442 b7e7a701 bc34d686 fa87dfae 8022000b 74657374 20766563 746f7220 00200008 0001a147 e112a643
  00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7 80280004 c07d4c96`);
// RFC 5769 section 2.3, "Sample IPv6 Response": XOR-MAPPED-ADDRESS 2001:db8:1234:5678:11:2233:4455:6677 port 32853.
const RFC5769_IPV6_RESPONSE = hex(`
  01010048 2112a442 b7e7a701 bc34d686 fa87dfae 8022000b 74657374 20766563 746f7220 00200014 0002a147 0113a9fa
  a5d3f179 bc25f4b5 bed2b9d9 00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41 80280004 c8fb0b4c`);

describe('STUN codec', () => {
  it('matches the RFC 5769 IPv4 response vector (FINGERPRINT CRC and XOR-MAPPED-ADDRESS)', () => {
    const msg = parseStunMessage(RFC5769_IPV4_RESPONSE);
    expect(msg).toBeDefined();
    expect(msg!.type).toBe(STUN_BINDING_SUCCESS);
    const attr = msg!.attributes.find((a) => a.type === STUN_ATTR_XOR_MAPPED_ADDRESS)!;
    expect(decodeXorMappedAddress(attr.value, msg!.transactionId)).toEqual({ family: 4, address: '192.0.2.1', port: 32853 });
    // One flipped bit anywhere breaks the fingerprint.
    const broken = RFC5769_IPV4_RESPONSE.slice();
    broken[30] = broken[30]! ^ 1;
    expect(parseStunMessage(broken)).toBeUndefined();
    const v6 = parseStunMessage(RFC5769_IPV6_RESPONSE)!;
    const attr6 = v6.attributes.find((a) => a.type === STUN_ATTR_XOR_MAPPED_ADDRESS)!;
    expect(decodeXorMappedAddress(attr6.value, v6.transactionId)).toEqual({ family: 6, address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 });
  });

  it('computes the standard CRC-32', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('encodes IPv4 and IPv6 mapped addresses that decode back', () => {
    const txid = Uint8Array.from({ length: 12 }, (_, i) => i * 17);
    for (const [address, expected] of [
      ['127.0.0.1', '127.0.0.1'],
      ['::1', '0:0:0:0:0:0:0:1'],
      ['2001:db8::ff00:42:8329', '2001:db8:0:0:0:ff00:42:8329'],
      ['fe80::1%eth0', 'fe80:0:0:0:0:0:0:1'],
      ['::ffff:10.1.2.3', '0:0:0:0:0:ffff:a01:203'],
    ] as const) {
      const res = parseStunMessage(encodeBindingSuccess(txid, address, 54321))!;
      expect(res.type).toBe(STUN_BINDING_SUCCESS);
      expect([...res.transactionId]).toEqual([...txid]);
      const attr = res.attributes.find((a) => a.type === STUN_ATTR_XOR_MAPPED_ADDRESS)!;
      expect(decodeXorMappedAddress(attr.value, res.transactionId)?.address).toBe(expected);
      expect(decodeXorMappedAddress(attr.value, res.transactionId)?.port).toBe(54321);
    }
  });

  it('answers only well-formed Binding requests', () => {
    const txid = new Uint8Array(12).fill(7);
    expect(stunResponseFor(bindingRequest(txid), '127.0.0.1', 1)).toBeDefined();
    // Attributes are skipped, with padding.
    const software = hex('8022 0005 68656c6c6f 000000');
    expect(stunResponseFor(bindingRequest(txid, software), '127.0.0.1', 1)).toBeDefined();
    const noCookie = bindingRequest(txid);
    noCookie[4] = 0;
    expect(stunResponseFor(noCookie, '127.0.0.1', 1)).toBeUndefined();
    expect(stunResponseFor(bindingRequest(txid).subarray(0, 19), '127.0.0.1', 1)).toBeUndefined();
    expect(stunResponseFor(bindingRequest(txid, hex('8022 0009 68656c6c6f')), '127.0.0.1', 1)).toBeUndefined();
    const indication = bindingRequest(txid);
    indication[1] = 0x11;
    expect(stunResponseFor(indication, '127.0.0.1', 1)).toBeUndefined();
    // A response the server receives is not answered either.
    expect(stunResponseFor(encodeBindingSuccess(txid, '127.0.0.1', 9), '127.0.0.1', 1)).toBeUndefined();
  });

  it('never throws on random bytes (fuzz)', () => {
    const txid = new Uint8Array(12);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 128 }),
          // Valid headers with random bodies and lengths reach the attribute parser.
          fc.tuple(fc.uint8Array({ maxLength: 96 }), fc.nat(0xffff)).map(([body, len]) => {
            const req = bindingRequest(txid, body);
            new DataView(req.buffer).setUint16(2, len % 3 === 0 ? body.length : len);
            return req;
          }),
        ),
        fc.constantFrom('127.0.0.1', '::1'),
        fc.nat(0xffff),
        (bytes, address, port) => {
          const res = stunResponseFor(bytes, address, port);
          if (res !== undefined) expect(parseStunMessage(res)).toBeDefined();
          const msg = parseStunMessage(bytes);
          for (const a of msg?.attributes ?? []) decodeXorMappedAddress(a.value, msg!.transactionId);
        },
      ),
      { numRuns: 20_000, seed: 5389 },
    );
  });
});

describe('STUN responder over UDP', () => {
  let server: StunServer | undefined;
  let client: Socket | undefined;
  afterEach(async () => {
    client?.close();
    client = undefined;
    await server?.close();
    server = undefined;
  });

  it('answers a Binding request with the sender address, and keeps answering after garbage', async () => {
    server = await startStunServer({ host: '127.0.0.1' });
    const sock = (client = createSocket('udp4'));
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
    const replies: Buffer[] = [];
    let wake: (() => void) | undefined;
    let answeredJunk = false;
    sock.on('message', (m) => {
      if (m[8] === 0xee) answeredJunk = true;
      replies.push(m);
      wake?.();
    });
    // UDP may drop a datagram: resend until an answer for this transaction arrives (or give up after ~5 s).
    const ask = async (txid: Uint8Array): Promise<Buffer> => {
      const mine = (m: Buffer): boolean => Buffer.compare(m.subarray(8, 20), Buffer.from(txid)) === 0;
      for (let i = 0; i < 50 && !replies.some(mine); i++) {
        sock.send(bindingRequest(txid), server!.port, '127.0.0.1');
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 100);
        });
      }
      const reply = replies.find(mine)!;
      replies.length = 0;
      return reply;
    };

    const txid = Uint8Array.from({ length: 12 }, (_, i) => 200 - i);
    const reply = await ask(txid);
    const msg = parseStunMessage(reply)!;
    expect(msg.type).toBe(STUN_BINDING_SUCCESS);
    expect([...msg.transactionId]).toEqual([...txid]);
    const attr = msg.attributes.find((a) => a.type === STUN_ATTR_XOR_MAPPED_ADDRESS)!;
    expect(decodeXorMappedAddress(attr.value, msg.transactionId)).toEqual({ family: 4, address: '127.0.0.1', port: sock.address().port });

    // Garbage is ignored without crashing the responder (and never answered).
    const junkId = new Uint8Array(12).fill(0xee);
    const noCookie = Buffer.from(bindingRequest(junkId));
    noCookie[4] = 0;
    for (const junk of [
      Buffer.alloc(0),
      Buffer.from('hello'),
      Buffer.alloc(20, 0xff),
      Buffer.from(bindingRequest(junkId)).subarray(0, 19),
      Buffer.concat([Buffer.from(bindingRequest(junkId)), Buffer.alloc(4)]),
      noCookie,
      Buffer.alloc(1200, 0x01),
    ]) {
      sock.send(junk, server.port, '127.0.0.1');
    }
    const txid2 = new Uint8Array(12).fill(9);
    const again = parseStunMessage(await ask(txid2))!;
    expect(again.type).toBe(STUN_BINDING_SUCCESS);
    expect(answeredJunk).toBe(false);
    expect([...again.transactionId]).toEqual([...txid2]);
  });
});
