import { mkdir, open, readdir, readFile, rename, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { errorMessage } from '../../src/errors.js';
import type { OutboxEntry, OutboxMessage } from './outbox-queue.js';

const lineSchema = z.strictObject({
  n: z.number().int().positive(),
  t: z.string().min(1),
  p: z.string(),
  r: z.boolean(),
});

const ackSchema = z.strictObject({ acked_n: z.number().int().min(0) });

const SEGMENT_RE = /^seg-(\d{12})\.jsonl$/;
const ACK_FILE = 'ack.json';
/** Created and removed at start (and on each retry with nothing to write) to learn that the directory is writable. */
const PROBE_FILE = '.write-probe';

interface Segment {
  id: number;
  maxN: number;
}

export interface SegmentFilesDeps {
  dir: string;
  fsync: boolean;
  /** A new segment is started once the current one holds this many bytes. */
  segmentMaxBytes: number;
  logger: Logger;
}

/** The line an entry takes in a segment file, newline included; its byte length is the entry's `bytes`. */
export function entryLine(n: number, message: OutboxMessage): string {
  return `${JSON.stringify({ n, t: message.topic, p: message.payload, r: message.retain })}\n`;
}

/**
 * The outbox on disk: `seg-<id>.jsonl` append-only segment files (one JSON line per entry) and `ack.json`
 * holding the highest entry number below which everything was acknowledged by the broker.
 */
export class SegmentFiles {
  private readonly deps: SegmentFilesDeps;
  private segments: Segment[] = [];
  private current: { segment: Segment; handle: FileHandle; bytes: number } | undefined;
  private nextSegmentId = 1;
  private dirReady = false;
  /** Highest entry number already acknowledged, read from ack.json at load (the mark before anything is pending). */
  loadedAckedN = 0;
  persistedAckedN = 0;
  /** Unreadable lines skipped while loading (torn last line after a crash, corruption), and a damaged ack.json. */
  skippedLines = 0;

  constructor(deps: SegmentFilesDeps) {
    this.deps = deps;
  }

  /** Creates the directory (again, if it was removed). */
  async makeDir(): Promise<void> {
    await mkdir(this.deps.dir, { recursive: true });
    this.dirReady = true;
  }

  /** Creates the directory unless that already succeeded. */
  async ensureDir(): Promise<void> {
    if (!this.dirReady) await this.makeDir();
  }

  /**
   * Reads every segment: returns the entries above the ack mark in entry order, each once, and the highest
   * entry number seen (acknowledged or not, so that new entries are numbered after it).
   */
  async load(): Promise<{ entries: OutboxEntry[]; maxN: number }> {
    const ackedN = await this.readAck();
    this.loadedAckedN = ackedN;
    this.persistedAckedN = ackedN;
    const names = (await readdir(this.deps.dir)).filter((name) => SEGMENT_RE.test(name)).sort();
    let maxN = ackedN;
    const loaded: OutboxEntry[] = [];
    for (const name of names) {
      const id = Number(SEGMENT_RE.exec(name)?.[1]);
      this.nextSegmentId = Math.max(this.nextSegmentId, id + 1);
      const segment: Segment = { id, maxN: 0 };
      this.segments.push(segment);
      for (const entry of await this.readSegment(name, segment)) {
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

  /** Every readable entry of one segment file; records the highest entry number in `segment`. */
  private async readSegment(name: string, segment: Segment): Promise<OutboxEntry[]> {
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
      segment.maxN = Math.max(segment.maxN, parsed.n);
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

  /** Appends the entries (in entry order) to the current segment, starting a new one when it is full. */
  async append(entries: OutboxEntry[]): Promise<void> {
    if (!this.current || this.current.bytes >= this.deps.segmentMaxBytes) {
      await this.closeCurrent();
      const segment: Segment = { id: this.nextSegmentId++, maxN: 0 };
      const handle = await open(join(this.deps.dir, segmentName(segment.id)), 'a');
      this.segments.push(segment);
      this.current = { segment, handle, bytes: 0 };
    }
    const text = entries.map((entry) => entryLine(entry.n, entry)).join('');
    const buffer = Buffer.from(text);
    const current = this.current;
    await current.handle.write(buffer);
    if (this.deps.fsync) await current.handle.datasync();
    current.bytes += buffer.length;
    const last = entries[entries.length - 1];
    if (last) current.segment.maxN = Math.max(current.segment.maxN, last.n);
  }

  /** The mark only protects entries on disk: with a fast broker most entries are acked before their batch, so nothing is written. */
  ackMarkNeeded(ackedN: number): boolean {
    return ackedN !== this.persistedAckedN && this.segments.some((segment) => segment.maxN > this.persistedAckedN);
  }

  async persistAck(ackedN: number): Promise<void> {
    const tmp = join(this.deps.dir, `${ACK_FILE}.tmp`);
    await writeFile(tmp, `${JSON.stringify({ acked_n: ackedN })}\n`);
    await rename(tmp, join(this.deps.dir, ACK_FILE));
    this.persistedAckedN = ackedN;
  }

  /** Deletes the segments whose entries are all below the persisted mark; the current one only when `mayCloseCurrent()`. */
  async deleteAckedSegments(mayCloseCurrent: () => boolean): Promise<void> {
    const done = this.segments.filter((segment) => segment.maxN <= this.persistedAckedN);
    for (const segment of done) {
      if (this.current?.segment === segment) {
        if (!mayCloseCurrent()) continue;
        await this.closeCurrent();
      }
      await unlink(join(this.deps.dir, segmentName(segment.id))).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      this.segments = this.segments.filter((s) => s !== segment);
    }
  }

  async closeCurrent(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    if (current) await current.handle.close().catch(() => undefined);
  }

  async probe(): Promise<void> {
    const file = join(this.deps.dir, PROBE_FILE);
    await writeFile(file, '');
    await unlink(file);
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

function segmentName(id: number): string {
  return `seg-${String(id).padStart(12, '0')}.jsonl`;
}
