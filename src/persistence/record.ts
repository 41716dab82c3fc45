/**
 * The stored form of a {@link StateRecord} and the checks every store shares: argument validation, encoding
 * with the frame codec, and epoch fencing of a batch against the stored records.
 *
 * Stored bytes are one codec value: `[1, version, epoch, state]` or `[1, version, epoch, state, dedupe]`,
 * with `dedupe` as `[key, hash, reply, at]` tuples. The leading `1` is the format version. Version and epoch come
 * first so {@link readRecordHeader} can fence a write without decoding a large state.
 */
import type { Codec } from '../codec/index.js';
import { isMeshError, meshError, type MeshError } from '../errors.js';
import { checkStoreKey } from './keys.js';
import type { BatchOp, DedupeEntry, StateRecord } from './types.js';

/** Format tag of the stored record layout. */
export const RECORD_FORMAT = 1;

/** A write that passed validation and encoding, ready for a store to apply. */
export type PreparedOp =
  | { type: 'put'; key: string; bytes: Uint8Array; epoch: number; version: number; fenced: boolean }
  | { type: 'delete'; key: string };

/** Version and epoch of a stored record. */
export interface RecordHeader {
  version: number;
  epoch: number;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

function checkCounter(key: string, field: 'version' | 'epoch', value: unknown, min: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw meshError('InvalidArgument', `record ${field} must be a safe integer >= ${min}`, { details: { key, [field]: value } });
  }
}

function checkDedupe(key: string, dedupe: unknown): asserts dedupe is ReadonlyArray<DedupeEntry> {
  if (!Array.isArray(dedupe)) {
    throw meshError('InvalidArgument', 'record dedupe must be an array', { details: { key } });
  }
  for (const entry of dedupe as unknown[]) {
    if (
      !isPlainObject(entry) ||
      typeof entry['key'] !== 'string' ||
      typeof entry['hash'] !== 'string' ||
      typeof entry['at'] !== 'number' ||
      !Number.isFinite(entry['at'])
    ) {
      throw meshError('InvalidArgument', 'a dedupe entry is { key: string, hash: string, reply, at: finite number }', {
        details: { key },
      });
    }
  }
}

/**
 * Validates `record` and encodes it with `codec` into bytes the caller owns (a fresh copy, never a view of the
 * codec's scratch buffer). Throws `InvalidArgument` for a malformed record or one the codec refuses (too large,
 * too deep, forbidden key, unsupported type); `details.reason` carries the codec's error code.
 */
export function encodeRecord(codec: Codec, key: string, record: StateRecord): Uint8Array {
  if (!isPlainObject(record)) {
    throw meshError('InvalidArgument', 'a state record is an object { state, version, epoch, dedupe? }', { details: { key } });
  }
  checkCounter(key, 'version', record.version, 1);
  checkCounter(key, 'epoch', record.epoch, 0);
  const dedupe = record.dedupe;
  if (dedupe !== undefined) checkDedupe(key, dedupe);
  const value: unknown[] = [RECORD_FORMAT, record.version, record.epoch, record.state];
  if (dedupe !== undefined) value.push(dedupe.map((e) => [e.key, e.hash, e.reply, e.at]));
  let bytes: Uint8Array;
  try {
    bytes = codec.encode(value);
  } catch (cause) {
    const reason = isMeshError(cause) ? cause.code : 'CodecError';
    const extra = isMeshError(cause) ? cause.details : {};
    throw meshError('InvalidArgument', `state record of ${key} cannot be stored: ${(cause as Error).message}`, {
      cause,
      details: { ...extra, key, reason },
    });
  }
  // A copy the caller owns: on Node the codec returns a Buffer view of a shared scratch pool, and
  // Buffer#slice would not copy.
  return new Uint8Array(bytes);
}

function corrupt(key: string, message: string, cause?: unknown): MeshError {
  return meshError('StorageError', `stored record of ${key} is corrupt: ${message}`, cause === undefined ? { details: { key } } : { cause, details: { key } });
}

/**
 * Decodes stored bytes into a fresh {@link StateRecord}. The caller must pass bytes nobody else holds: decoded
 * byte arrays may be views of them. Throws `StorageError` for bytes that are not a stored record.
 */
export function decodeRecord(codec: Codec, key: string, bytes: Uint8Array): StateRecord {
  let value: unknown;
  try {
    value = codec.decode(bytes);
  } catch (cause) {
    throw corrupt(key, 'undecodable', cause);
  }
  if (!Array.isArray(value) || (value.length !== 4 && value.length !== 5) || value[0] !== RECORD_FORMAT) {
    throw corrupt(key, 'unknown layout');
  }
  const [, version, epoch, state, dedupe] = value as [number, unknown, unknown, unknown, unknown];
  if (typeof version !== 'number' || typeof epoch !== 'number') throw corrupt(key, 'bad header');
  const record: StateRecord = { state, version, epoch };
  if (value.length === 5) {
    if (!Array.isArray(dedupe)) throw corrupt(key, 'bad dedupe table');
    record.dedupe = dedupe.map((entry: unknown) => {
      if (!Array.isArray(entry) || entry.length !== 4) throw corrupt(key, 'bad dedupe entry');
      const [k, hash, reply, at] = entry as [unknown, unknown, unknown, unknown];
      if (typeof k !== 'string' || typeof hash !== 'string' || typeof at !== 'number') throw corrupt(key, 'bad dedupe entry');
      return { key: k, hash, reply, at };
    });
  }
  return record;
}

/** Reads one MessagePack number at `pos`; returns it and the next position, or undefined if not a number. */
function readNumber(bytes: Uint8Array, pos: number): [number, number] | undefined {
  const tag = bytes[pos];
  if (tag === undefined) return undefined;
  if (tag <= 0x7f) return [tag, pos + 1];
  if (tag >= 0xe0) return [tag - 0x100, pos + 1];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (n: number): boolean => pos + 1 + n <= bytes.byteLength;
  switch (tag) {
    case 0xcc: return need(1) ? [view.getUint8(pos + 1), pos + 2] : undefined;
    case 0xcd: return need(2) ? [view.getUint16(pos + 1), pos + 3] : undefined;
    case 0xce: return need(4) ? [view.getUint32(pos + 1), pos + 5] : undefined;
    case 0xcf: return need(8) ? [Number(view.getBigUint64(pos + 1)), pos + 9] : undefined;
    case 0xd0: return need(1) ? [view.getInt8(pos + 1), pos + 2] : undefined;
    case 0xd1: return need(2) ? [view.getInt16(pos + 1), pos + 3] : undefined;
    case 0xd2: return need(4) ? [view.getInt32(pos + 1), pos + 5] : undefined;
    case 0xd3: return need(8) ? [Number(view.getBigInt64(pos + 1)), pos + 9] : undefined;
    case 0xca: return need(4) ? [view.getFloat32(pos + 1), pos + 5] : undefined;
    case 0xcb: return need(8) ? [view.getFloat64(pos + 1), pos + 9] : undefined;
    default: return undefined;
  }
}

/**
 * Version and epoch of stored bytes, read from the first bytes only (no decoding of the state). Falls back to a
 * full decode for a layout it does not recognise; throws `StorageError` for bytes that are not a record.
 */
export function readRecordHeader(codec: Codec, key: string, bytes: Uint8Array): RecordHeader {
  // fixarray of 4 or 5, then the format tag as a positive fixint.
  if ((bytes[0] === 0x94 || bytes[0] === 0x95) && bytes[1] === RECORD_FORMAT) {
    const version = readNumber(bytes, 2);
    const epoch = version && readNumber(bytes, version[1]);
    if (version && epoch) return { version: version[0], epoch: epoch[0] };
  }
  const record = decodeRecord(codec, key, new Uint8Array(bytes));
  return { version: record.version, epoch: record.epoch };
}

/** Validates and encodes one put; throws `InvalidArgument`. */
export function preparePut(codec: Codec, key: string, record: StateRecord, fenced = true): PreparedOp {
  checkStoreKey(key);
  const bytes = encodeRecord(codec, key, record);
  return { type: 'put', key, bytes, epoch: record.epoch, version: record.version, fenced };
}

/** Validates and encodes every op of a batch before anything is written; throws `InvalidArgument`. */
export function prepareBatch(codec: Codec, ops: readonly BatchOp[]): PreparedOp[] {
  if (!Array.isArray(ops)) throw meshError('InvalidArgument', 'batch takes an array of operations');
  return ops.map((op: BatchOp, index) => {
    if (op === null || typeof op !== 'object') {
      throw meshError('InvalidArgument', 'a batch operation is { type: "put", key, record } or { type: "delete", key }', { details: { index } });
    }
    if (op.type === 'put') return preparePut(codec, op.key, op.record);
    if (op.type === 'delete') {
      checkStoreKey(op.key);
      return { type: 'delete', key: op.key };
    }
    throw meshError('InvalidArgument', `unknown batch operation type ${JSON.stringify((op as { type: unknown }).type)}`, { details: { index } });
  });
}

/** The `StaleEpoch` error of a fenced write. */
export function staleEpochError(key: string, stored: RecordHeader, attempted: RecordHeader): MeshError {
  const why = attempted.epoch < stored.epoch ? `epoch ${attempted.epoch} < stored epoch ${stored.epoch}` : `version ${attempted.version} < stored version ${stored.version} at epoch ${stored.epoch}`;
  return meshError('StaleEpoch', `write of ${key} refused: ${why}`, {
    details: { key, stored: stored.epoch, attempted: attempted.epoch, storedVersion: stored.version, attemptedVersion: attempted.version },
  });
}

/** True when `attempted` may replace `stored` under epoch fencing. */
export function passesFence(stored: RecordHeader, attempted: RecordHeader): boolean {
  if (attempted.epoch !== stored.epoch) return attempted.epoch > stored.epoch;
  return attempted.version >= stored.version;
}

/** Bytes a stored entry accounts for in quotas: key characters (ASCII) plus encoded record bytes. */
export function entrySize(key: string, bytes: Uint8Array | undefined): number {
  return bytes === undefined ? 0 : key.length + bytes.byteLength;
}

/**
 * Checks a prepared batch against the stored records, op by op (a later op sees the earlier ones), and returns
 * the change in stored bytes. `stored(key)` returns the stored bytes of a key before the batch. Throws
 * `StaleEpoch` (and `StorageError` for a corrupt stored record); writes nothing itself.
 */
export function checkBatch(codec: Codec, ops: readonly PreparedOp[], stored: (key: string) => Uint8Array | undefined): { deltaBytes: number } {
  const before = new Map<string, number>();
  const pending = new Map<string, (PreparedOp & { type: 'put' }) | null>();
  for (const op of ops) {
    if (!before.has(op.key)) {
      const bytes = stored(op.key);
      before.set(op.key, entrySize(op.key, bytes));
      if (op.type === 'put' && op.fenced && bytes !== undefined) {
        const header = readRecordHeader(codec, op.key, bytes);
        if (!passesFence(header, op)) throw staleEpochError(op.key, header, op);
      }
    } else if (op.type === 'put' && op.fenced) {
      const previous = pending.get(op.key);
      if (previous !== undefined && previous !== null && !passesFence(previous, op)) throw staleEpochError(op.key, previous, op);
    }
    pending.set(op.key, op.type === 'put' ? op : null);
  }
  let deltaBytes = 0;
  for (const [key, op] of pending) deltaBytes += (op === null ? 0 : entrySize(key, op.bytes)) - (before.get(key) ?? 0);
  return { deltaBytes };
}

/** The `Closed` error of a store used after `close()`. */
export function closedError(store: string): MeshError {
  return meshError('Closed', `state store ${store} is closed`, { details: { store } });
}

/** Throws `InvalidArgument` unless `limit` is undefined or a non-negative integer. */
export function checkLimit(limit: unknown): void {
  if (limit !== undefined && (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0)) {
    throw meshError('InvalidArgument', 'scan limit must be a non-negative integer', { details: { limit } });
  }
}

/** Entries per page of a scan (each page is one read transaction). */
export const SCAN_PAGE_SIZE = 128;
