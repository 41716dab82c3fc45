/**
 * An edge peer's data directory: its persistent peer id (`peer-id`, so a restarted peer is the same peer) and
 * its LMDB state store. Node only.
 */
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { meshError } from '../errors.js';
import { LmdbStateStore } from '../persistence/lmdb.js';
import { cryptoRandom, randomId } from '../random.js';

/** The default data directory, under the working directory. */
export const DEFAULT_DATA_DIR = '.meshrtc-data';

const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Reads the peer id kept in `dataDir` (creating it on first use: `wanted`, else a random id). A different
 * `wanted` id than the stored one is refused: one data directory belongs to one peer.
 */
export async function peerIdIn(dataDir: string, wanted?: string): Promise<string> {
  const dir = resolve(dataDir);
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'peer-id');
  let stored: string | undefined;
  try {
    stored = (await readFile(file, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (stored !== undefined) {
    if (!ID_RE.test(stored)) throw meshError('InvalidArgument', `${file} holds an invalid peer id`);
    if (wanted !== undefined && wanted !== stored) {
      throw meshError('InvalidArgument', `data directory ${dir} belongs to peer ${stored}, not ${wanted}`);
    }
    return stored;
  }
  const id = wanted ?? randomId(cryptoRandom, 16);
  if (!ID_RE.test(id)) throw meshError('InvalidArgument', `invalid peer id ${JSON.stringify(id)}`);
  await writeFile(`${file}.tmp`, `${id}\n`);
  await rename(`${file}.tmp`, file);
  return id;
}

/** Opens the peer id and state store of a data directory. */
export async function openDataDir(dataDir: string, wanted?: string): Promise<{ peerId: string; store: LmdbStateStore }> {
  const peerId = await peerIdIn(dataDir, wanted);
  const store = await LmdbStateStore.open({ dataDir });
  return { peerId, store };
}
