/**
 * MessagePack codec on msgpackr (fast, maintained, runs in browsers and Node). Plain MessagePack only
 * (no msgpackr records or structured-clone extensions), so any MessagePack implementation can read our frames.
 */
import { Packr } from 'msgpackr';
import { meshError } from '../errors.js';
import { DEFAULT_CODEC_LIMITS, type Codec, type CodecLimits } from './types.js';

/**
 * Keys refused in decoded and encoded objects. msgpackr itself renames `__proto__` to `__proto_` on decode;
 * we refuse both, plus `constructor` and `prototype`, so no payload can reach an object's prototype chain.
 */
const FORBIDDEN_KEYS = new Set(['__proto__', '__proto_', 'constructor', 'prototype']);

/** Walks `value`, throwing a `CodecError` past `maxDepth` or on a forbidden key. Iterative: deep input cannot overflow the stack. */
export function checkStructure(value: unknown, maxDepth: number): void {
  if (value === null || typeof value !== 'object') return;
  // Fast path, no allocation: an array of primitives and byte arrays (a mesh frame with a simple payload).
  if (Array.isArray(value) && maxDepth >= 1 && flat(value)) return;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > maxDepth) {
      throw meshError('CodecError', `value nested deeper than ${maxDepth} levels`, { details: { maxDepth } });
    }
    if (ArrayBuffer.isView(v)) continue;
    if (Array.isArray(v)) {
      for (const item of v) if (item !== null && typeof item === 'object') stack.push([item, depth + 1]);
      continue;
    }
    for (const key of Object.keys(v as object)) {
      if (FORBIDDEN_KEYS.has(key)) {
        throw meshError('CodecError', `forbidden key ${JSON.stringify(key)}`, { details: { key } });
      }
      const item = (v as Record<string, unknown>)[key];
      if (item !== null && typeof item === 'object') stack.push([item, depth + 1]);
    }
  }
}

function flat(array: readonly unknown[]): boolean {
  for (let i = 0; i < array.length; i++) {
    const item = array[i];
    if (item !== null && typeof item === 'object' && !ArrayBuffer.isView(item)) return false;
  }
  return true;
}

/** Creates the MessagePack codec with the given limits. */
export function createMsgpackCodec(limits: Partial<CodecLimits> = {}): Codec {
  const resolved: CodecLimits = { ...DEFAULT_CODEC_LIMITS, ...limits };
  const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' });
  return {
    name: 'msgpack',
    limits: resolved,
    encode(value: unknown): Uint8Array {
      checkStructure(value, resolved.maxDepth);
      let bytes: Uint8Array;
      try {
        bytes = packr.pack(value);
      } catch (cause) {
        throw meshError('CodecError', 'value cannot be encoded', { cause });
      }
      if (bytes.byteLength > resolved.maxBytes) {
        throw meshError('MessageTooLarge', `encoded value is ${bytes.byteLength} bytes, limit ${resolved.maxBytes}`, {
          details: { size: bytes.byteLength, limit: resolved.maxBytes },
        });
      }
      return bytes;
    },
    decode(bytes: Uint8Array): unknown {
      if (bytes.byteLength > resolved.maxBytes) {
        throw meshError('MessageTooLarge', `frame is ${bytes.byteLength} bytes, limit ${resolved.maxBytes}`, {
          details: { size: bytes.byteLength, limit: resolved.maxBytes },
        });
      }
      let value: unknown;
      try {
        value = packr.unpack(bytes);
      } catch (cause) {
        throw meshError('CodecError', 'malformed frame', { cause });
      }
      checkStructure(value, resolved.maxDepth);
      return value;
    },
  };
}

/** The shared default codec. */
export const msgpackCodec: Codec = createMsgpackCodec();
