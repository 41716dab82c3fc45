/** The codec contract: structured values to bytes and back, with limits enforced on both sides. */

/** Limits every codec enforces; violations raise a `CodecError` (or `MessageTooLarge` for size). */
export interface CodecLimits {
  /** Largest encoded value in bytes (default 16 MiB). */
  readonly maxBytes: number;
  /** Deepest nesting of arrays and objects (default 64). */
  readonly maxDepth: number;
}

/** Encodes and decodes frames. `decode` never returns objects with prototype-bearing keys. */
export interface Codec {
  readonly name: string;
  readonly limits: CodecLimits;
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

/** Default limits. */
export const DEFAULT_CODEC_LIMITS: CodecLimits = { maxBytes: 16 * 1024 * 1024, maxDepth: 64 };
