/** Loads actor definitions from a user module (for the edge CLI and `startFromEnv`). */
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { collectActorDefinitions } from '../actors/collect.js';
import type { AnyActorDefinition } from '../actors/define.js';
import { meshError } from '../errors.js';

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
  const found = collectActorDefinitions(mod);
  if (found.length === 0) throw meshError('InvalidArgument', `actors module ${path} exports no actor definitions (use defineActor)`);
  return found;
}
