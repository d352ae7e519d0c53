import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { errorMessage } from '../../errors.js';
import type { OutboxEntry } from './outbox-queue.js';

const lineSchema = z.strictObject({
  n: z.number().int().positive(),
  t: z.string().min(1),
  p: z.string(),
  r: z.boolean(),
});

const ackSchema = z.strictObject({ acked_n: z.number().int().min(0) });

const SEGMENT_RE = /^seg-(\d{12})\.jsonl$/;
const ACK_FILE = 'ack.json';

/** A file of the old outbox: a segment or the ack mark. */
export function isSegmentOutboxFile(name: string): boolean {
  return SEGMENT_RE.test(name) || name === ACK_FILE;
}

export interface SegmentReaderDeps {
  dir: string;
  logger: Logger;
}

/**
 * Reads the outbox of lineside 0.1 (before the line record): `seg-<id>.jsonl` append-only segment files (one JSON
 * line per entry) and `ack.json`, the highest entry number below which everything was acknowledged. Used once, to
 * migrate such a directory into the record database (outbox-legacy.ts); the writer lives in benchmarks/legacy/.
 */
export class SegmentReader {
  /** Unreadable lines skipped while loading (torn last line after a crash, corruption), and a damaged ack.json. */
  skippedLines = 0;

  constructor(private readonly deps: SegmentReaderDeps) {}

  /**
   * Reads every segment: returns the entries above the ack mark in entry order, each once, and the highest
   * entry number seen (acknowledged or not, so that new entries are numbered after it).
   */
  async load(): Promise<{ entries: OutboxEntry[]; maxN: number }> {
    const ackedN = await this.readAck();
    const names = (await readdir(this.deps.dir)).filter((name) => SEGMENT_RE.test(name)).sort();
    let maxN = ackedN;
    const loaded: OutboxEntry[] = [];
    for (const name of names) {
      for (const entry of await this.readSegment(name)) {
        maxN = Math.max(maxN, entry.n);
        if (entry.n > ackedN) loaded.push(entry);
      }
    }
    // Segments are written in entry order, but sort anyway: a restored backup or a manual copy must not reorder delivery.
    loaded.sort((a, b) => a.n - b.n);
    // A batch rewritten after a failed write can leave the same entry twice on disk: send it once.
    const entries = loaded.filter((entry, i) => entry.n !== loaded[i - 1]?.n);
    return { entries, maxN };
  }

  /** Every readable entry of one segment file. */
  private async readSegment(name: string): Promise<OutboxEntry[]> {
    const text = await readFile(join(this.deps.dir, name), 'utf8');
    const lines = text.split('\n');
    const tornTail = !text.endsWith('\n') && text.length > 0;
    const entries: OutboxEntry[] = [];
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (!line) continue;
      const parsed = parseLine(line);
      if (!parsed) {
        this.skippedLines++;
        const torn = tornTail && i === lines.length - 1;
        this.deps.logger.warn(
          { code: 'LS_MQTT_OUTBOX', file: name, line: i + 1 },
          torn
            ? 'outbox: skipped a torn last line (the process stopped mid-write)'
            : 'outbox: skipped an unreadable line',
        );
        continue;
      }
      entries.push({
        n: parsed.n,
        topic: parsed.t,
        payload: parsed.p,
        retain: parsed.r,
        bytes: Buffer.byteLength(line) + 1,
      });
    }
    return entries;
  }

  private async readAck(): Promise<number> {
    let text: string;
    try {
      text = await readFile(join(this.deps.dir, ACK_FILE), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    try {
      return ackSchema.parse(JSON.parse(text)).acked_n;
    } catch (err) {
      // Resending everything still on disk is the safe reading of a damaged mark: duplicates, never loss.
      this.skippedLines++;
      this.deps.logger.warn(
        { code: 'LS_MQTT_OUTBOX', err: errorMessage(err) },
        'outbox: unreadable ack.json; every stored message will be sent again',
      );
      return 0;
    }
  }
}

function parseLine(line: string): z.infer<typeof lineSchema> | undefined {
  try {
    const result = lineSchema.safeParse(JSON.parse(line));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}
