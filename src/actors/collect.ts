/** Collecting actor definitions from a module namespace (edge CLI, browser test harness). Runtime-neutral. */
import type { AnyActorDefinition } from './define.js';

/** True when `v` was made by `defineActor`. */
export function isActorDefinition(v: unknown): v is AnyActorDefinition {
  return v !== null && typeof v === 'object' && (v as { kind?: unknown }).kind === 'meshrtc.actor';
}

/**
 * Every actor definition a module exports: named exports that are definitions, and a default export that is a
 * definition or an array of them. A type exported twice counts once (the last one wins).
 */
export function collectActorDefinitions(mod: Readonly<Record<string, unknown>>): AnyActorDefinition[] {
  const found = new Map<string, AnyActorDefinition>();
  const add = (v: unknown): void => {
    if (isActorDefinition(v)) found.set(v.type, v);
  };
  for (const [name, value] of Object.entries(mod)) {
    if (name === 'default' && Array.isArray(value)) value.forEach(add);
    else add(value);
  }
  return [...found.values()];
}
