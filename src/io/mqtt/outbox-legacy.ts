import { readdirSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join, relative, isAbsolute } from 'node:path';
import type { Logger } from 'pino';
import { errorMessage } from '../../errors.js';
import { entryBytes, type OutboxEntry } from './outbox-queue.js';
import { isSegmentOutboxFile, SegmentReader } from './outbox-segments.js';
import type { OutboxStore } from './outbox-store.js';

export interface ImportDeps {
  store: OutboxStore;
  /** The old `mqtt.outbox_dir` (segment files and ack.json). */
  dir: string;
  /** The database file: when it lies inside `dir` (outbox_dir set to the state directory), only the files move. */
  databaseFile?: string;
  logger: Logger;
}

const META_KEY = 'outbox.segments_imported_from';

/**
 * Moves an outbox of lineside 0.1 (segment files, ack.json) into the database, once: its unacknowledged entries are
 * inserted in order, with the fact that they were, in one transaction; then the directory is renamed
 * `<dir>.migrated` (or, when the database lies inside it, each of the old files). Interrupted between the two, the next start finds the fact and only renames. Returns the entries
 * as numbered in the database. A directory that cannot be read is left in place with an error line (retried next
 * start); nothing else depends on it.
 */
export async function importSegmentOutbox(deps: ImportDeps): Promise<{ entries: OutboxEntry[]; skippedLines: number }> {
  const { store, dir, logger } = deps;
  const files = segmentOutboxFiles(dir);
  if (files.length === 0) return { entries: [], skippedLines: 0 };
  const reader = new SegmentReader({ dir, logger });
  let entries: OutboxEntry[] = [];
  if (store.metaGet(META_KEY) !== dir) {
    let loaded: OutboxEntry[];
    try {
      loaded = (await reader.load()).entries;
    } catch (err) {
      const fields = { code: 'LS_MQTT_OUTBOX', dir, err: errorMessage(err) };
      logger.error(
        fields,
        'could not read the old MQTT outbox directory; it is left in place and read again next start',
      );
      return { entries: [], skippedLines: reader.skippedLines };
    }
    // Numbered after what the database already holds, so they are sent after it, in their own order.
    const firstN = store.totals().maxN + 1;
    entries = loaded.map((e, i) => {
      const message = { topic: e.topic, payload: e.payload, retain: e.retain };
      return { ...message, n: firstN + i, bytes: entryBytes(message) };
    });
    store.importOnce(entries, META_KEY, dir);
    logger.info({ dir, imported: entries.length }, 'old MQTT outbox directory imported into the line record');
  }
  const inside = deps.databaseFile !== undefined && contains(dir, deps.databaseFile);
  if (inside)
    await moveAside(
      files.map((name) => join(dir, name)),
      logger,
    );
  else await moveAside([dir], logger);
  return { entries, skippedLines: reader.skippedLines };
}

/** Names of the old outbox's files in `dir`; none when it does not exist (or is not one). */
function segmentOutboxFiles(dir: string): string[] {
  try {
    return readdirSync(dir).filter(isSegmentOutboxFile);
  } catch {
    return [];
  }
}

function contains(dir: string, file: string): boolean {
  const rel = relative(dir, file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** Renames each path to `<path>.migrated`, replacing a `.migrated` left by an earlier import. */
async function moveAside(paths: string[], logger: Logger): Promise<void> {
  for (const path of paths) await moveOne(path, logger);
}

async function moveOne(dir: string, logger: Logger): Promise<void> {
  const target = `${dir}.migrated`;
  try {
    // A `.migrated` left by an earlier import of the same directory is superseded by this one.
    await rm(target, { recursive: true, force: true });
    await rename(dir, target);
  } catch (err) {
    const fields = { code: 'LS_MQTT_OUTBOX', dir, err: errorMessage(err) };
    logger.warn(fields, 'old MQTT outbox imported but could not be renamed; it is not read again');
  }
}
