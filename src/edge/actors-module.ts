/** Loads actor definitions from a user module (for the edge CLI and `startFromEnv`). */
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import type { AnyActorDefinition } from '../actors/define.js';
import { meshError } from '../errors.js';

function isDefinition(v: unknown): v is AnyActorDefinition {
  return v !== null && typeof v === 'object' && (v as { kind?: unknown }).kind === 'meshrtc.actor';
}

/**
 * Imports `path` (relative to the working directory) and collects every actor definition it exports: named
 * exports that are definitions, and a default export that is a definition or an array of them.
 */
export async function loadActorsModule(path: string): Promise<AnyActorDefinition[]> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
  } catch (cause) {
    throw meshError('InvalidArgument', `cannot load actors module ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  const found = new Map<string, AnyActorDefinition>();
  const add = (v: unknown): void => {
    if (isDefinition(v)) found.set(v.type, v);
  };
  for (const [name, value] of Object.entries(mod)) {
    if (name === 'default' && Array.isArray(value)) value.forEach(add);
    else add(value);
  }
  if (found.size === 0) throw meshError('InvalidArgument', `actors module ${path} exports no actor definitions (use defineActor)`);
  return [...found.values()];
}
