import { mkdir, open, readdir, readFile, rename, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { errorMessage } from '../../errors.js';
import { LogThrottle } from '../../log-throttle.js';
import type { Lifecycle } from '../../domain/ports.js';

/** A message waiting for the broker. `n` orders entries across restarts; it is not the part sequence number. */
export interface OutboxEntry {
  readonly n: number;
  readonly topic: string;
  readonly payload: string;
  readonly retain: boolean;
  /** Bytes this entry takes in a segment file (its JSON line). */
  readonly bytes: number;
}

export interface OutboxMessage {
  topic: string;
  payload: string;
  retain: boolean;
}

export interface OutboxDeps {
  dir: string;
  maxBytes: number;
  fsync: boolean;
  logger: Logger;
  /** Milliseconds enqueued entries may wait before their batch is written; default 20. */
  flushDelayMs?: number;
  /** Milliseconds before a failed write is retried; default 1000. */
  retryDelayMs?: number;
}

export interface OutboxStats {
  /** Entries not yet acknowledged by the broker (queued or in flight). */
  pending: number;
  pendingBytes: number;
  inFlight: number;
  acked: number;
  /** Oldest unsent entries dropped because the outbox was full. */
  dropped: number;
  /** Failed reads/writes of the outbox directory. */
  diskErrors: number;
  /** Unreadable lines skipped while loading (torn last line after a crash, corruption). */
  skippedLines: number;
  /** False while the last disk operation failed: entries are then held in memory only. */
  diskOk: boolean;
  /** Why the directory cannot be written (null while it can), known from start: an empty outbox is probed. */
  storageError: string | null;
  /** Entries the broker refused permanently and that were dropped so later ones keep flowing (see `reject`). */
  rejected: number;
  /** Pending entries the final write at stop could not persist: they are lost with this process. */
  lostAtStop: number;
  /** Entries (with their payloads) the outbox references: pending ones plus dropped ones awaiting compaction. */
  heldEntries: number;
}

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
const DROP_LOG_INTERVAL_MS = 60_000;
const DISK_ERROR_LOG_INTERVAL_MS = 60_000;

interface Slot {
  entry: OutboxEntry;
  state: 'queued' | 'inflight' | 'done';
  /** True while the slot sits in `unwritten` (its line is not on disk yet). */
  unwritten: boolean;
}

/** FIFO of slots with O(1) removal at the front; vacated cells are cleared so their payloads can be collected. */
class SlotQueue {
  private items: (Slot | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  first(): Slot | undefined {
    return this.items[this.head];
  }

  push(slot: Slot): void {
    this.items.push(slot);
  }

  shift(): Slot | undefined {
    if (this.head >= this.items.length) return undefined;
    const slot = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return slot;
  }

  /** Puts a slot back in entry order; released slots go near the front, so the scan is short. */
  insertOrdered(slot: Slot): void {
    let index = this.head;
    while (index < this.items.length && (this.items[index]?.entry.n ?? Infinity) < slot.entry.n) index++;
    if (index === this.head && this.head > 0) {
      this.items[--this.head] = slot;
      return;
    }
    this.items.splice(index, 0, slot);
  }

  clear(): Slot[] {
    const slots = this.items.slice(this.head).filter((slot): slot is Slot => slot !== undefined);
    this.items = [];
    this.head = 0;
    return slots;
  }
}

interface Segment {
  id: number;
  maxN: number;
}

/**
 * Durable, bounded, ordered queue of MQTT messages.
 *
 * Layout: `seg-<id>.jsonl` append-only segment files (one JSON line per entry) and `ack.json` holding the
 * highest entry number below which everything was acknowledged by the broker. On start, every entry above
 * that mark is loaded again, so a message enqueued before a crash or restart is still sent (at least once).
 *
 * `enqueue` never touches the disk: entries go to memory at once and are written in batches shortly after,
 * so the trigger-to-gate path never waits for a write. Entries the broker acknowledged before their batch
 * was written are never written at all. Memory is the source of truth while running; disk errors are logged
 * and counted, and the entries stay deliverable from memory.
 */
export class Outbox implements Lifecycle {
  private readonly deps: OutboxDeps;
  private readonly log: Logger;
  /**
   * Queued and in-flight entries live apart: in-flight ones can stay unacknowledged for a whole outage
   * (mqtt.js holds them until it reconnects), and entries dropped behind them must not be kept alive by them.
   */
  private readonly queue = new SlotQueue();
  private readonly inFlight = new Map<number, Slot>();
  private nextN = 1;
  /** Highest entry number already acknowledged, read from ack.json at start (the mark before anything is pending). */
  private loadedAckedN = 0;
  private persistedAckedN = 0;
  private unwritten: Slot[] = [];
  /** Slots in `unwritten` that were acknowledged or dropped since; compacted away when they pile up. */
  private unwrittenDone = 0;
  private segments: Segment[] = [];
  private current: { segment: Segment; handle: FileHandle; bytes: number } | undefined;
  private nextSegmentId = 1;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private stopped = true;
  private dirReady = false;
  private readonly listeners = new Set<() => void>();
  private notifyPending = false;
  private lifecycle: 'new' | 'running' | 'stopped' = 'new';
  private readonly counters = { pending: 0, acked: 0, dropped: 0, rejected: 0, diskErrors: 0, skippedLines: 0, pendingBytes: 0, lostAtStop: 0 };
  private diskOk = true;
  private readonly diskErrorLog = new LogThrottle(DISK_ERROR_LOG_INTERVAL_MS);
  private readonly dropLog = new LogThrottle(DROP_LOG_INTERVAL_MS);
  private storageError: string | null = null;

  constructor(deps: OutboxDeps) {
    this.deps = deps;
    this.log = deps.logger;
  }

  get segmentMaxBytes(): number {
    return Math.max(64 * 1024, Math.min(8 * 1024 * 1024, Math.floor(this.deps.maxBytes / 16)));
  }

  /** Loads what earlier runs left unacknowledged. Disk errors are logged, never thrown: the outbox then runs from memory. */
  async start(_signal: AbortSignal): Promise<void> {
    this.stopped = false;
    this.lifecycle = 'running';
    // Anything enqueued before start is numbered after what earlier runs left, so delivery order stays enqueue order.
    const early = [...this.inFlight.values(), ...this.queue.clear()].map((slot) => slot.entry).sort((a, b) => a.n - b.n);
    this.inFlight.clear();
    this.unwritten = [];
    this.unwrittenDone = 0;
    this.counters.pendingBytes = 0;
    this.counters.pending = 0;
    try {
      await mkdir(this.deps.dir, { recursive: true });
      this.dirReady = true;
      await this.load();
      // With a healthy broker nothing may be written for hours: find out now, not in the first outage.
      await this.probe();
    } catch (err) {
      this.diskError('MQTT outbox directory cannot be written; messages are held in memory until it can (lost if the daemon stops first)', err);
    }
    for (const entry of early) this.enqueue({ topic: entry.topic, payload: entry.payload, retain: entry.retain });
    this.enforceLimit();
    if (this.pendingCount() > 0) {
      this.log.info({ pending: this.pendingCount(), bytes: this.counters.pendingBytes }, 'outbox holds unsent messages from an earlier run');
      this.notify();
    }
  }

  /** Writes what is still only in memory, records the ack position and closes files. Never throws. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.lifecycle = 'stopped';
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.flushing) await this.flushing;
    await this.flushNow();
    if (this.current) {
      await this.current.handle.close().catch(() => undefined);
      this.current = undefined;
    }
    const lost = this.unwritten.filter((slot) => slot.state !== 'done').length;
    this.counters.lostAtStop = lost;
    if (lost > 0) {
      // Not rate-limited like the other disk errors: this is the last chance to say these verdicts are gone.
      this.log.error(
        { code: 'LS_MQTT_OUTBOX', dir: this.deps.dir, lost, pending: this.pendingCount() },
        'MQTT outbox could not persist messages at stop; they are lost unless the broker already has them',
      );
    }
  }

  /** Adds a message; returns at once (the write happens in a later batch). Drops the oldest unsent entries when full. */
  enqueue(message: OutboxMessage): OutboxEntry {
    if (this.lifecycle === 'stopped') {
      this.log.warn({ code: 'LS_MQTT_OUTBOX', topic: message.topic }, 'outbox: message enqueued after stop is not persisted; stop MQTT after the pipeline');
    }
    const n = this.nextN++;
    const line = `${JSON.stringify({ n, t: message.topic, p: message.payload, r: message.retain })}\n`;
    const entry: OutboxEntry = { n, topic: message.topic, payload: message.payload, retain: message.retain, bytes: Buffer.byteLength(line) };
    const slot: Slot = { entry, state: 'queued', unwritten: true };
    this.queue.push(slot);
    this.unwritten.push(slot);
    this.counters.pendingBytes += entry.bytes;
    this.counters.pending++;
    this.enforceLimit();
    this.scheduleFlush();
    this.notify();
    return entry;
  }

  /** The next entry to publish, in order, marked in flight; undefined when none is waiting. */
  takeNext(): OutboxEntry | undefined {
    const slot = this.queue.shift();
    if (!slot) return undefined;
    slot.state = 'inflight';
    this.inFlight.set(slot.entry.n, slot);
    return slot.entry;
  }

  /** The broker acknowledged in-flight entry `n`: it will not be sent again. */
  ack(n: number): void {
    const slot = this.inFlight.get(n);
    if (!slot) return;
    this.finish(slot);
    this.counters.acked++;
    this.scheduleFlush();
  }

  /**
   * The broker refused in-flight entry `n` for good (e.g. MQTT 5 "not authorized"): it is dropped and counted
   * as rejected, so it no longer holds back everything queued behind it.
   */
  reject(n: number): void {
    const slot = this.inFlight.get(n);
    if (!slot) return;
    this.finish(slot);
    this.counters.rejected++;
    this.scheduleFlush();
  }

  /** Puts one in-flight entry back (its publish failed); it is the next one handed out. */
  release(n: number): void {
    const slot = this.inFlight.get(n);
    if (!slot) return;
    this.inFlight.delete(n);
    slot.state = 'queued';
    this.queue.insertOrdered(slot);
  }

  /** Called whenever an entry becomes available to send. Returns a function that removes the listener. */
  onAvailable(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): OutboxStats {
    return {
      pending: this.pendingCount(),
      pendingBytes: this.counters.pendingBytes,
      inFlight: this.inFlight.size,
      acked: this.counters.acked,
      dropped: this.counters.dropped,
      diskErrors: this.counters.diskErrors,
      skippedLines: this.counters.skippedLines,
      diskOk: this.diskOk,
      storageError: this.storageError,
      rejected: this.counters.rejected,
      lostAtStop: this.counters.lostAtStop,
      heldEntries: this.queue.length + this.inFlight.size + this.unwrittenDone,
    };
  }

  /** Resolves once everything enqueued so far has been written (or has failed to be). For tests and tools. */
  async flush(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.flushing) await this.flushing;
    await this.flushNow();
  }

  private pendingCount(): number {
    return this.counters.pending;
  }

  /** Everything up to the first pending entry is acknowledged (or dropped): its number minus one is the mark. */
  private ackedN(): number {
    let first = this.queue.first()?.entry.n ?? Infinity;
    for (const n of this.inFlight.keys()) first = Math.min(first, n);
    return first === Infinity ? Math.max(this.loadedAckedN, this.nextN - 1) : first - 1;
  }

  /** Marks a pending slot done (acked, dropped or rejected). The caller has removed it from `queue`, or it is in flight. */
  private finish(slot: Slot): void {
    if (slot.state === 'inflight') this.inFlight.delete(slot.entry.n);
    slot.state = 'done';
    this.counters.pendingBytes -= slot.entry.bytes;
    this.counters.pending--;
    if (slot.unwritten) {
      this.unwrittenDone++;
      // While the disk fails nothing leaves `unwritten`: drop finished slots before they pile up.
      if (this.unwrittenDone > 1024 && this.unwrittenDone * 2 > this.unwritten.length) this.compactUnwritten();
    }
  }

  private compactUnwritten(): void {
    this.unwritten = this.unwritten.filter((slot) => slot.state !== 'done');
    this.unwrittenDone = 0;
  }

  /** Drops the oldest entries not yet on the wire until the pending bytes fit. In-flight ones cannot be recalled. */
  private enforceLimit(): void {
    let droppedNow = 0;
    while (this.counters.pendingBytes > this.deps.maxBytes) {
      const slot = this.queue.shift();
      if (!slot) break;
      this.finish(slot);
      this.counters.dropped++;
      droppedNow++;
    }
    if (droppedNow === 0) return;
    const line = this.dropLog.due(droppedNow);
    if (line) {
      this.log.error(
        { code: 'LS_MQTT_OUTBOX_FULL', dropped: line.count, droppedTotal: this.counters.dropped, maxBytes: this.deps.maxBytes },
        'MQTT outbox full: oldest unsent messages dropped',
      );
    }
  }

  /** Deferred and coalesced, so an enqueue never runs the publisher (socket writes) in the caller's stack. */
  private notify(): void {
    if (this.notifyPending) return;
    this.notifyPending = true;
    setImmediate(() => {
      this.notifyPending = false;
      for (const listener of this.listeners) listener();
    });
  }

  private scheduleFlush(): void {
    if (this.stopped || this.flushTimer) return;
    const delayMs = this.diskOk ? (this.deps.flushDelayMs ?? 20) : (this.deps.retryDelayMs ?? 1000);
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      if (this.flushing) {
        this.scheduleFlush();
        return;
      }
      this.flushing = this.flushNow().finally(() => {
        this.flushing = undefined;
        if (this.unwritten.length > 0 || this.ackMarkNeeded()) this.scheduleFlush();
      });
    }, delayMs);
  }

  /** One batch: append unwritten entries, fsync, record the ack mark, delete segments that are fully acknowledged. */
  private async flushNow(): Promise<void> {
    try {
      if (!this.dirReady) {
        await mkdir(this.deps.dir, { recursive: true });
        this.dirReady = true;
      }
      // Detached, so compaction of `unwritten` during the write cannot shift what this batch covers.
      const batch = this.unwritten.filter((slot) => slot.state !== 'done');
      this.unwritten = [];
      this.unwrittenDone = 0;
      for (const slot of batch) slot.unwritten = false;
      try {
        if (batch.length > 0) await this.append(batch);
      } catch (err) {
        const retry = batch.filter((slot) => slot.state !== 'done');
        for (const slot of retry) slot.unwritten = true;
        this.unwritten = [...retry, ...this.unwritten];
        this.unwrittenDone = this.unwritten.filter((slot) => slot.state === 'done').length;
        throw err;
      }
      if (batch.length === 0 && !this.diskOk) await this.probe();
      if (this.ackMarkNeeded()) await this.persistAck();
      await this.deleteAckedSegments();
      if (!this.diskOk) {
        this.diskOk = true;
        this.storageError = null;
        this.log.info({ dir: this.deps.dir }, 'MQTT outbox writable again');
      }
    } catch (err) {
      // A failed append may have left a partial line: continue in a fresh segment so it stays the last line of its file.
      await this.closeCurrent();
      this.diskError('could not write the outbox; messages are kept in memory and the write is retried', err);
    }
  }

  private async append(batch: Slot[]): Promise<void> {
    if (!this.current || this.current.bytes >= this.segmentMaxBytes) {
      await this.closeCurrent();
      const segment: Segment = { id: this.nextSegmentId++, maxN: 0 };
      const handle = await open(join(this.deps.dir, segmentName(segment.id)), 'a');
      this.segments.push(segment);
      this.current = { segment, handle, bytes: 0 };
    }
    const text = batch.map((slot) => `${JSON.stringify({ n: slot.entry.n, t: slot.entry.topic, p: slot.entry.payload, r: slot.entry.retain })}\n`).join('');
    const buffer = Buffer.from(text);
    const current = this.current;
    await current.handle.write(buffer);
    if (this.deps.fsync) await current.handle.datasync();
    current.bytes += buffer.length;
    const last = batch[batch.length - 1];
    if (last) current.segment.maxN = Math.max(current.segment.maxN, last.entry.n);
  }

  /** The mark only protects entries on disk: with a fast broker most entries are acked before their batch, so nothing is written. */
  private ackMarkNeeded(): boolean {
    return this.ackedN() !== this.persistedAckedN && this.segments.some((segment) => segment.maxN > this.persistedAckedN);
  }

  private async persistAck(): Promise<void> {
    const ackedN = this.ackedN();
    const tmp = join(this.deps.dir, `${ACK_FILE}.tmp`);
    await writeFile(tmp, `${JSON.stringify({ acked_n: ackedN })}\n`);
    await rename(tmp, join(this.deps.dir, ACK_FILE));
    this.persistedAckedN = ackedN;
  }

  private async deleteAckedSegments(): Promise<void> {
    const done = this.segments.filter((segment) => segment.maxN <= this.persistedAckedN);
    for (const segment of done) {
      if (this.current?.segment === segment) {
        if (this.unwritten.length > 0) continue;
        await this.closeCurrent();
      }
      await unlink(join(this.deps.dir, segmentName(segment.id))).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      this.segments = this.segments.filter((s) => s !== segment);
    }
  }

  private async closeCurrent(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    if (current) await current.handle.close().catch(() => undefined);
  }

  private async load(): Promise<void> {
    const ackedN = await this.readAck();
    this.loadedAckedN = ackedN;
    this.persistedAckedN = ackedN;
    const names = (await readdir(this.deps.dir)).filter((name) => SEGMENT_RE.test(name)).sort();
    let maxN = ackedN;
    const loaded: Slot[] = [];
    for (const name of names) {
      const id = Number(SEGMENT_RE.exec(name)?.[1]);
      this.nextSegmentId = Math.max(this.nextSegmentId, id + 1);
      const segment: Segment = { id, maxN: 0 };
      this.segments.push(segment);
      const text = await readFile(join(this.deps.dir, name), 'utf8');
      const lines = text.split('\n');
      const tornTail = !text.endsWith('\n') && text.length > 0;
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i];
        if (!line) continue;
        const parsed = parseLine(line);
        if (!parsed) {
          this.counters.skippedLines++;
          const torn = tornTail && i === lines.length - 1;
          this.log.warn(
            { code: 'LS_MQTT_OUTBOX', file: name, line: i + 1 },
            torn ? 'outbox: skipped a torn last line (the process stopped mid-write)' : 'outbox: skipped an unreadable line',
          );
          continue;
        }
        segment.maxN = Math.max(segment.maxN, parsed.n);
        maxN = Math.max(maxN, parsed.n);
        if (parsed.n <= ackedN) continue;
        const entry: OutboxEntry = { n: parsed.n, topic: parsed.t, payload: parsed.p, retain: parsed.r, bytes: Buffer.byteLength(line) + 1 };
        loaded.push({ entry, state: 'queued', unwritten: false });
      }
    }
    // Segments are written in entry order, but sort anyway: a restored backup or a manual copy must not reorder delivery.
    loaded.sort((a, b) => a.entry.n - b.entry.n);
    let previousN = 0;
    for (const slot of loaded) {
      // A batch rewritten after a failed write can leave the same entry twice on disk: send it once.
      if (slot.entry.n === previousN) continue;
      previousN = slot.entry.n;
      this.queue.push(slot);
      this.counters.pendingBytes += slot.entry.bytes;
      this.counters.pending++;
    }
    this.nextN = maxN + 1;
    await this.deleteAckedSegments();
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
      this.counters.skippedLines++;
      this.log.warn({ code: 'LS_MQTT_OUTBOX', err: errorMessage(err) }, 'outbox: unreadable ack.json; every stored message will be sent again');
      return 0;
    }
  }

  private async probe(): Promise<void> {
    const file = join(this.deps.dir, PROBE_FILE);
    await writeFile(file, '');
    await unlink(file);
  }

  private diskError(message: string, err: unknown): void {
    this.counters.diskErrors++;
    this.diskOk = false;
    this.storageError = errorMessage(err);
    if (this.diskErrorLog.due()) {
      this.log.error({ code: 'LS_MQTT_OUTBOX', dir: this.deps.dir, err: errorMessage(err), diskErrors: this.counters.diskErrors }, message);
    }
    this.scheduleFlush();
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
