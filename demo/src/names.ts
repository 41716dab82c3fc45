/** Friendly random player names, and this tab's player (kept across reloads of the tab). */
import { PALETTE, cleanText, type Player } from '../actors.js';

const ADJECTIVES = ['Swift', 'Brave', 'Quiet', 'Lucky', 'Clever', 'Sunny', 'Mighty', 'Gentle', 'Bold', 'Cosmic', 'Fuzzy', 'Nimble', 'Jolly', 'Witty', 'Zesty', 'Misty'];
const ANIMALS = ['Otter', 'Falcon', 'Panda', 'Lynx', 'Koala', 'Heron', 'Fox', 'Badger', 'Gecko', 'Puffin', 'Orca', 'Marten', 'Ibis', 'Yak', 'Newt', 'Moth'];

function pick<T>(list: readonly T[]): T {
  return list[Math.floor(Math.random() * list.length)]!;
}

/** A name such as "Swift Otter". */
export function randomName(): string {
  return `${pick(ADJECTIVES)} ${pick(ANIMALS)}`;
}

const KEY = 'pixel-mesh-player';

/** This tab's player: its peer id, and a name and colour remembered for the tab (sessionStorage). */
export function loadPlayer(peerId: string): Player {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as { name?: string; color?: number } | null;
    if (saved !== null && typeof saved.name === 'string' && Number.isInteger(saved.color)) {
      return { id: peerId, name: cleanText(saved.name, 24) || randomName(), color: Math.min(Math.max(saved.color!, 1), PALETTE.length - 1) };
    }
  } catch {
    // ignore a malformed entry
  }
  const player = { id: peerId, name: randomName(), color: 1 + Math.floor(Math.random() * (PALETTE.length - 1)) };
  savePlayer(player);
  return player;
}

export function savePlayer(player: Player): void {
  sessionStorage.setItem(KEY, JSON.stringify({ name: player.name, color: player.color }));
}
