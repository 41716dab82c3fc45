/**
 * A minimal RFC 5389 STUN Binding responder: enough for ICE agents (werift in particular) to learn their
 * server-reflexive address from a server on loopback. It answers Binding requests with XOR-MAPPED-ADDRESS (and a
 * FINGERPRINT), and silently drops everything else: responses, indications, RFC 3489 requests without the magic
 * cookie, truncated or inconsistent datagrams, and requests whose FINGERPRINT does not match. No authentication,
 * no ALTERNATE-SERVER, no TURN. The parser never throws on any input.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';

/** The RFC 5389 magic cookie. */
export const STUN_MAGIC_COOKIE = 0x2112a442;
/** Message type of a Binding request. */
export const STUN_BINDING_REQUEST = 0x0001;
/** Message type of a Binding success response. */
export const STUN_BINDING_SUCCESS = 0x0101;
/** Attribute type of XOR-MAPPED-ADDRESS. */
export const STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020;
/** Attribute type of FINGERPRINT. */
export const STUN_ATTR_FINGERPRINT = 0x8028;

const HEADER = 20;
const FINGERPRINT_XOR = 0x5354554e;

/** A decoded STUN message header plus its attributes (values are views into the datagram). */
export interface StunMessage {
  readonly type: number;
  readonly transactionId: Uint8Array;
  readonly attributes: ReadonlyArray<{ readonly type: number; readonly value: Uint8Array }>;
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (ISO-HDLC, the one FINGERPRINT uses) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of bytes) crc = crcTable[(crc ^ b) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * Decodes a STUN message, or returns undefined when `bytes` is not a well-formed RFC 5389 message (wrong leading
 * bits, missing magic cookie, length not matching the datagram or not a multiple of 4, truncated attribute,
 * FINGERPRINT not last or not matching). Never throws.
 */
export function parseStunMessage(bytes: Uint8Array): StunMessage | undefined {
  if (bytes.length < HEADER) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = view.getUint16(0);
  const length = view.getUint16(2);
  if ((type & 0xc000) !== 0 || length % 4 !== 0 || HEADER + length !== bytes.length) return undefined;
  if (view.getUint32(4) !== STUN_MAGIC_COOKIE) return undefined;
  const attributes: Array<{ type: number; value: Uint8Array }> = [];
  let offset = HEADER;
  while (offset < bytes.length) {
    if (offset + 4 > bytes.length) return undefined;
    const attrType = view.getUint16(offset);
    const attrLength = view.getUint16(offset + 2);
    const end = offset + 4 + attrLength;
    if (end > bytes.length) return undefined;
    if (attrType === STUN_ATTR_FINGERPRINT) {
      // FINGERPRINT is 4 bytes, the last attribute, and covers everything before it.
      if (attrLength !== 4 || end !== bytes.length) return undefined;
      const expected = (crc32(bytes.subarray(0, offset)) ^ FINGERPRINT_XOR) >>> 0;
      if (view.getUint32(offset + 4) !== expected) return undefined;
    }
    attributes.push({ type: attrType, value: bytes.subarray(offset + 4, end) });
    offset = end + ((4 - (attrLength % 4)) % 4);
  }
  if (offset !== bytes.length) return undefined;
  return { type, transactionId: bytes.slice(8, HEADER), attributes };
}

/**
 * Encodes a Binding success response for `transactionId` carrying XOR-MAPPED-ADDRESS (`address`, `port`) and a
 * FINGERPRINT. `address` is a dotted IPv4 or an IPv6 address as Node reports it.
 */
export function encodeBindingSuccess(transactionId: Uint8Array, address: string, port: number): Uint8Array {
  const v6 = isIPv6(address);
  const addr = v6 ? ipv6Bytes(address) : ipv4Bytes(address);
  const attrLength = 4 + addr.length;
  const out = new Uint8Array(HEADER + 4 + attrLength + 8);
  const view = new DataView(out.buffer);
  view.setUint16(0, STUN_BINDING_SUCCESS);
  view.setUint16(2, out.length - HEADER);
  view.setUint32(4, STUN_MAGIC_COOKIE);
  out.set(transactionId.subarray(0, 12), 8);
  let o = HEADER;
  view.setUint16(o, STUN_ATTR_XOR_MAPPED_ADDRESS);
  view.setUint16(o + 2, attrLength);
  view.setUint8(o + 5, v6 ? 0x02 : 0x01);
  view.setUint16(o + 6, port ^ (STUN_MAGIC_COOKIE >>> 16));
  // The address is XORed with the cookie followed (for IPv6) by the transaction id, i.e. header bytes 4..20.
  for (let i = 0; i < addr.length; i++) out[o + 8 + i] = addr[i]! ^ out[4 + i]!;
  o += 4 + attrLength;
  view.setUint16(o, STUN_ATTR_FINGERPRINT);
  view.setUint16(o + 2, 4);
  view.setUint32(o + 4, (crc32(out.subarray(0, o)) ^ FINGERPRINT_XOR) >>> 0);
  return out;
}

/** Decodes an XOR-MAPPED-ADDRESS attribute value of a message with `transactionId`; undefined if malformed. */
export function decodeXorMappedAddress(
  value: Uint8Array,
  transactionId: Uint8Array,
): { family: 4 | 6; address: string; port: number } | undefined {
  if (value.length < 4 || transactionId.length !== 12) return undefined;
  const family = value[1];
  const size = family === 0x01 ? 4 : family === 0x02 ? 16 : 0;
  if (size === 0 || value.length !== 4 + size) return undefined;
  const mask = new Uint8Array(16);
  new DataView(mask.buffer).setUint32(0, STUN_MAGIC_COOKIE);
  mask.set(transactionId, 4);
  const port = ((value[2]! << 8) | value[3]!) ^ (STUN_MAGIC_COOKIE >>> 16);
  const bytes = value.subarray(4).map((b, i) => b ^ mask[i]!);
  if (size === 4) return { family: 4, address: bytes.join('.'), port };
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return { family: 6, address: groups.join(':'), port };
}

/** The response to a datagram, or undefined when it must be ignored. Never throws. */
export function stunResponseFor(datagram: Uint8Array, address: string, port: number): Uint8Array | undefined {
  const msg = parseStunMessage(datagram);
  if (msg === undefined || msg.type !== STUN_BINDING_REQUEST) return undefined;
  return encodeBindingSuccess(msg.transactionId, address, port);
}

function ipv4Bytes(address: string): Uint8Array {
  return Uint8Array.from(address.split('.').map((p) => Number(p) & 0xff));
}

function ipv6Bytes(address: string): Uint8Array {
  const zone = address.indexOf('%');
  const a = zone >= 0 ? address.slice(0, zone) : address;
  const out = new Uint8Array(16);
  // An IPv4-mapped tail (::ffff:1.2.3.4) occupies the last 4 bytes.
  const dotted = a.includes('.') ? a.slice(a.lastIndexOf(':') + 1) : undefined;
  const head = dotted === undefined ? a : a.slice(0, a.lastIndexOf(':') + 1) + '0:0';
  const [left = '', right] = head.split('::');
  const l = left === '' ? [] : left.split(':');
  const r = right === undefined || right === '' ? [] : right.split(':');
  const groups = [...l, ...new Array<string>(Math.max(0, 8 - l.length - r.length)).fill('0'), ...r];
  for (let i = 0; i < 8; i++) {
    const g = parseInt(groups[i] ?? '0', 16) || 0;
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  }
  if (dotted !== undefined) out.set(ipv4Bytes(dotted), 12);
  return out;
}

/** A running STUN responder. */
export interface StunServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Options of {@link startStunServer}. */
export interface StunServerOptions {
  host: string;
  /** UDP port; 0 (default) picks a free one. */
  port?: number;
  /** Called when a datagram is ignored or the socket reports an error (for logs). */
  onEvent?: (event: 'ignored' | 'answered' | 'error', info: Readonly<Record<string, unknown>>) => void;
}

/** Binds a UDP socket on `host` and answers Binding requests on it. */
export async function startStunServer(options: StunServerOptions): Promise<StunServer> {
  const socket: Socket = createSocket({ type: isIPv6(options.host) ? 'udp6' : 'udp4' });
  const onEvent = options.onEvent ?? (() => {});
  socket.on('message', (datagram: Buffer, rinfo: RemoteInfo) => {
    let response: Uint8Array | undefined;
    try {
      response = stunResponseFor(datagram, rinfo.address, rinfo.port);
    } catch (err) {
      // stunResponseFor is not supposed to throw; a bug must not take the server down.
      onEvent('error', { error: String(err) });
    }
    if (response === undefined) {
      onEvent('ignored', { from: `${rinfo.address}:${rinfo.port}`, bytes: datagram.length });
      return;
    }
    socket.send(response, rinfo.port, rinfo.address, (err) => {
      if (err) onEvent('error', { error: err.message });
    });
    onEvent('answered', { from: `${rinfo.address}:${rinfo.port}` });
  });
  socket.on('error', (err) => onEvent('error', { error: err.message }));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(options.port ?? 0, options.host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  let closed: Promise<void> | undefined;
  return {
    port: socket.address().port,
    close: () => (closed ??= new Promise<void>((resolve) => socket.close(() => resolve()))),
  };
}
