import type { Migration } from './database.js';

/**
 * Every migration of the line record, in the order they run. Each area (outbox, history, archive, labels) owns its
 * own list in its own module; append new steps at the end of an area's list, never edit or rename a shipped one.
 */
export function recordMigrations(areas: readonly (readonly Migration[])[]): Migration[] {
  const all = areas.flat();
  const names = new Set<string>();
  for (const m of all) {
    if (names.has(m.name)) throw new Error(`record: migration ${m.name} is listed twice`);
    names.add(m.name);
  }
  return all;
}

/** The schema's first step: facts about the database itself. */
export const coreMigrations: readonly Migration[] = [
  {
    name: '0001-core-meta',
    sql: 'CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)',
  },
];
