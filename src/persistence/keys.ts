/**
 * State keys: `capability/type/id`, each component escaped with `encodeURIComponent`, so a `/` (or any other
 * character) inside an id cannot be confused with the separator and every key is printable ASCII.
 *
 * ASCII keys sort the same way everywhere: JavaScript string order, IndexedDB key order and LMDB byte order
 * agree on them, so `scan` returns the same order from every store. The stores refuse keys outside printable
 * ASCII for that reason; build keys with {@link stateKey} and prefixes with {@link stateKeyPrefix}.
 */
import { meshError } from '../errors.js';

/** The address of an actor whose state is stored (structurally the same as the mesh's `ActorAddress`). */
export interface StateAddress {
  readonly capability: string;
  readonly type: string;
  readonly id: string;
}

/** Longest key (in characters, all ASCII) a store accepts; well below LMDB's key size limit. */
export const MAX_STATE_KEY_LENGTH = 1024;

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

function encodeComponent(name: 'capability' | 'type' | 'id', value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw meshError('InvalidArgument', `state key ${name} must be a non-empty string`, { details: { [name]: value } });
  }
  try {
    return encodeURIComponent(value);
  } catch (cause) {
    // A lone surrogate cannot be encoded as UTF-8.
    throw meshError('InvalidArgument', `state key ${name} is not well-formed Unicode`, { cause, details: { [name]: value } });
  }
}

/**
 * The store key of an actor: `encodeURIComponent(capability)/encodeURIComponent(type)/encodeURIComponent(id)`.
 * Throws `InvalidArgument` for an empty component, a malformed string, or a key longer than
 * {@link MAX_STATE_KEY_LENGTH}.
 */
export function stateKey(address: StateAddress): string {
  const key = `${encodeComponent('capability', address.capability)}/${encodeComponent('type', address.type)}/${encodeComponent('id', address.id)}`;
  if (key.length > MAX_STATE_KEY_LENGTH) {
    throw meshError('InvalidArgument', `state key is ${key.length} characters, limit ${MAX_STATE_KEY_LENGTH}`, {
      details: { length: key.length, limit: MAX_STATE_KEY_LENGTH },
    });
  }
  return key;
}

/**
 * The scan prefix of every actor of a capability (`"game/"`), or of one type of it (`"game/counter/"`).
 * The trailing `/` matters: `"game/counter/"` does not match `"game/counter2/..."`.
 */
export function stateKeyPrefix(capability: string, type?: string): string {
  const head = `${encodeComponent('capability', capability)}/`;
  return type === undefined ? head : `${head}${encodeComponent('type', type)}/`;
}

/**
 * The address a key was built from: the inverse of {@link stateKey}. Throws `InvalidArgument` unless the key has
 * exactly three non-empty components in the canonical escaping `stateKey` produces.
 */
export function parseStateKey(key: string): StateAddress {
  const parts = key.split('/');
  if (parts.length !== 3) {
    throw meshError('InvalidArgument', 'a state key has exactly three components', { details: { key } });
  }
  const [capability, type, id] = parts.map((part) => {
    try {
      return decodeURIComponent(part);
    } catch (cause) {
      throw meshError('InvalidArgument', 'malformed escape in state key', { cause, details: { key } });
    }
  }) as [string, string, string];
  const address = { capability, type, id };
  let canonical: string | undefined;
  try {
    canonical = stateKey(address);
  } catch {
    canonical = undefined;
  }
  if (canonical !== key) {
    throw meshError('InvalidArgument', 'state key is not in canonical form', { details: { key } });
  }
  return address;
}

/** Throws `InvalidArgument` unless `key` is a non-empty printable-ASCII string of at most {@link MAX_STATE_KEY_LENGTH}. */
export function checkStoreKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_STATE_KEY_LENGTH || !PRINTABLE_ASCII.test(key)) {
    throw meshError('InvalidArgument', 'a store key is a non-empty printable-ASCII string (build it with stateKey)', {
      details: { key: typeof key === 'string' ? key.slice(0, 200) : String(key), limit: MAX_STATE_KEY_LENGTH },
    });
  }
}

/** Throws `InvalidArgument` unless `prefix` is a printable-ASCII string (empty matches every key). */
export function checkScanPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string' || prefix.length > MAX_STATE_KEY_LENGTH || !PRINTABLE_ASCII.test(prefix)) {
    throw meshError('InvalidArgument', 'a scan prefix is a printable-ASCII string', {
      details: { prefix: typeof prefix === 'string' ? prefix.slice(0, 200) : String(prefix) },
    });
  }
}

/**
 * The smallest string above every key that starts with `prefix` (keys are printable ASCII, so appending
 * `"\x7f"` bounds them). Used as the exclusive upper end of a prefix range.
 */
export function prefixUpperBound(prefix: string): string {
  return `${prefix}\x7f`;
}
