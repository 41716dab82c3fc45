export type { Codec, CodecLimits } from './types.js';
export { DEFAULT_CODEC_LIMITS } from './types.js';
export { createMsgpackCodec, msgpackCodec, checkStructure } from './msgpack.js';
