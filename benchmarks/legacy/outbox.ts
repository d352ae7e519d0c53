/**
 * The segment-file outbox of lineside 0.1 (before the line record), kept only so that benchmarks/storage.ts can
 * compare the SQLite outbox against it in one run. Not used by the daemon; src/io/mqtt/outbox-segments.ts keeps
 * the reading half, for migrating an old outbox directory.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../../src/errors.js';
import { LogThrottle } from '../../src/log-throttle.js';
import type { Lifecycle } from '../../src/domain/ports.js';
import { SlotQueue, UnwrittenSlots, type OutboxEntry, type OutboxMessage, type Slot } from './outbox-queue.js';
import { SegmentFiles, entryLine } from './outbox-segments.js';

export type { OutboxEntry, OutboxMessage } from './outbox-queue.js';

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

const DROP_LOG_INTERVAL_MS = 60_000;
const DISK_ERROR_LOG_INTERVAL_MS = 60_000;

/**
 * Durable, bounded, ordered queue of MQTT messages.
 *
 * On disk (outbox-segments.ts): append-only segment files and an ack mark, the highest entry number below
 * which everything was acknowledged by the broker. On start, every entry above that mark is loaded again,
 * so a message enqueued before a crash or restart is still sent (at least once).
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
  private readonly files: SegmentFiles;
  private readonly unwritten = new UnwrittenSlots();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private stopped = true;
  private readonly listeners = new Set<() => void>();
  private notifyPending = false;
  private lifecycle: 'new' | 'running' | 'stopped' = 'new';
  private readonly counters = {
    pending: 0,
    acked: 0,
    dropped: 0,
    rejected: 0,
    diskErrors: 0,
    pendingBytes: 0,
    lostAtStop: 0,
  };
  private diskOk = true;
  private readonly diskErrorLog = new LogThrottle(DISK_ERROR_LOG_INTERVAL_MS);
  private readonly dropLog = new LogThrottle(DROP_LOG_INTERVAL_MS);
  private storageError: string | null = null;

  constructor(deps: OutboxDeps) {
    this.deps = deps;
    this.log = deps.logger;
    this.files = new SegmentFiles({
      dir: deps.dir,
      fsync: deps.fsync,
      segmentMaxBytes: this.segmentMaxBytes,
      logger: deps.logger,
    });
  }

  get segmentMaxBytes(): number {
    return Math.max(64 * 1024, Math.min(8 * 1024 * 1024, Math.floor(this.deps.maxBytes / 16)));
  }

  /** Loads what earlier runs left unacknowledged. Disk errors are logged, never thrown: the outbox then runs from memory. */
  async start(_signal: AbortSignal): Promise<void> {
    this.stopped = false;
    this.lifecycle = 'running';
    // Anything enqueued before start is numbered after what earlier runs left, so delivery order stays enqueue order.
    const early = [...this.inFlight.values(), ...this.queue.clear()]
      .map((slot) => slot.entry)
      .sort((a, b) => a.n - b.n);
    this.inFlight.clear();
    this.unwritten.clear();
    this.counters.pendingBytes = 0;
    this.counters.pending = 0;
    try {
      await this.files.makeDir();
      await this.load();
      // With a healthy broker nothing may be written for hours: find out now, not in the first outage.
      await this.files.probe();
    } catch (err) {
      this.diskError(
        'MQTT outbox directory cannot be written; messages are held in memory until it can (lost if the daemon stops first)',
        err,
      );
    }
    for (const entry of early) this.enqueue({ topic: entry.topic, payload: entry.payload, retain: entry.retain });
    this.enforceLimit();
    if (this.counters.pending > 0) {
      this.log.info(
        { pending: this.counters.pending, bytes: this.counters.pendingBytes },
        'outbox holds unsent messages from an earlier run',
      );
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
    await this.files.closeCurrent();
    const lost = this.unwritten.pendingCount();
    this.counters.lostAtStop = lost;
    if (lost > 0) {
      // Not rate-limited like the other disk errors: this is the last chance to say these verdicts are gone.
      this.log.error(
        { code: 'LS_MQTT_OUTBOX', dir: this.deps.dir, lost, pending: this.counters.pending },
        'MQTT outbox could not persist messages at stop; they are lost unless the broker already has them',
      );
    }
  }

  /** Adds a message; returns at once (the write happens in a later batch). Drops the oldest unsent entries when full. */
  enqueue(message: OutboxMessage): OutboxEntry {
    if (this.lifecycle === 'stopped') {
      this.log.warn(
        { code: 'LS_MQTT_OUTBOX', topic: message.topic },
        'outbox: message enqueued after stop is not persisted; stop MQTT after the pipeline',
      );
    }
    const n = this.nextN++;
    const bytes = Buffer.byteLength(entryLine(n, message));
    const entry: OutboxEntry = { n, topic: message.topic, payload: message.payload, retain: message.retain, bytes };
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
      pending: this.counters.pending,
      pendingBytes: this.counters.pendingBytes,
      inFlight: this.inFlight.size,
      acked: this.counters.acked,
      dropped: this.counters.dropped,
      diskErrors: this.counters.diskErrors,
      skippedLines: this.files.skippedLines,
      diskOk: this.diskOk,
      storageError: this.storageError,
      rejected: this.counters.rejected,
      lostAtStop: this.counters.lostAtStop,
      heldEntries: this.queue.length + this.inFlight.size + this.unwritten.doneCount,
    };
  }

  /** Resolves once everything enqueued so far has been written (or has failed to be). For tests and tools. */
  async flush(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.flushing) await this.flushing;
    await this.flushNow();
  }

  /** Everything up to the first pending entry is acknowledged (or dropped): its number minus one is the mark. */
  private ackedN(): number {
    let first = this.queue.first()?.entry.n ?? Infinity;
    for (const n of this.inFlight.keys()) first = Math.min(first, n);
    return first === Infinity ? Math.max(this.files.loadedAckedN, this.nextN - 1) : first - 1;
  }

  /** Marks a pending slot done (acked, dropped or rejected). The caller has removed it from `queue`, or it is in flight. */
  private finish(slot: Slot): void {
    if (slot.state === 'inflight') this.inFlight.delete(slot.entry.n);
    slot.state = 'done';
    this.counters.pendingBytes -= slot.entry.bytes;
    this.counters.pending--;
    if (slot.unwritten) this.unwritten.finished();
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
        {
          code: 'LS_MQTT_OUTBOX_FULL',
          dropped: line.count,
          droppedTotal: this.counters.dropped,
          maxBytes: this.deps.maxBytes,
        },
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
      await this.files.ensureDir();
      const batch = this.unwritten.takeBatch();
      try {
        if (batch.length > 0) await this.files.append(batch.map((slot) => slot.entry));
      } catch (err) {
        this.unwritten.putBack(batch);
        throw err;
      }
      if (batch.length === 0 && !this.diskOk) await this.files.probe();
      if (this.ackMarkNeeded()) await this.files.persistAck(this.ackedN());
      await this.deleteAckedSegments();
      if (!this.diskOk) {
        this.diskOk = true;
        this.storageError = null;
        this.log.info({ dir: this.deps.dir }, 'MQTT outbox writable again');
      }
    } catch (err) {
      // A failed append may have left a partial line: continue in a fresh segment so it stays the last line of its file.
      await this.files.closeCurrent();
      this.diskError('could not write the outbox; messages are kept in memory and the write is retried', err);
    }
  }

  private ackMarkNeeded(): boolean {
    return this.files.ackMarkNeeded(this.ackedN());
  }

  /** The current segment stays open while entries wait to be appended to it. */
  private async deleteAckedSegments(): Promise<void> {
    await this.files.deleteAckedSegments(() => this.unwritten.length === 0);
  }

  private async load(): Promise<void> {
    const { entries, maxN } = await this.files.load();
    for (const entry of entries) {
      this.queue.push({ entry, state: 'queued', unwritten: false });
      this.counters.pendingBytes += entry.bytes;
      this.counters.pending++;
    }
    this.nextN = maxN + 1;
    await this.deleteAckedSegments();
  }

  private diskError(message: string, err: unknown): void {
    this.counters.diskErrors++;
    this.diskOk = false;
    this.storageError = errorMessage(err);
    if (this.diskErrorLog.due()) {
      this.log.error(
        { code: 'LS_MQTT_OUTBOX', dir: this.deps.dir, err: errorMessage(err), diskErrors: this.counters.diskErrors },
        message,
      );
    }
    this.scheduleFlush();
  }
}
