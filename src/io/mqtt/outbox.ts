import type { Logger } from 'pino';
import { errorMessage } from '../../errors.js';
import { LogThrottle } from '../../log-throttle.js';
import type { Lifecycle } from '../../domain/ports.js';
import { importSegmentOutbox } from './outbox-legacy.js';
import { SendOrder } from './outbox-order.js';
import { entryBytes, type OutboxDeps, type OutboxEntry, type OutboxMessage, type OutboxStats } from './outbox-queue.js';
import { isDiskFull, OutboxStore, type Range } from './outbox-store.js';

export type { OutboxDeps, OutboxEntry, OutboxMessage, OutboxStats } from './outbox-queue.js';
export { outboxMigrations } from './outbox-store.js';

/** Entries read from the database at a time: with the in-flight window, what bounds the outbox's memory. */
const PAGE_SIZE = 64;
/** Bytes of the oldest unsent rows dropped at once when the disk is full, so that the next writes find room. */
const FULL_DROP_BYTES = 64 * 1024;
const LOG_INTERVAL_MS = 60_000;

/**
 * Durable, bounded, ordered queue of MQTT messages in the line record's database (table `outbox`).
 *
 * `enqueue` inserts the row at once (one small statement into the WAL, no fsync on the event loop): when it returns
 * the message survives a process crash; the record's checkpointer makes it survive a power cut within
 * record.sync_interval_ms. Acknowledged rows are deleted in one small transaction per event-loop turn. Only the
 * in-flight window and one page of the next rows are in memory, however long the backlog.
 *
 * When a write fails, new entries wait in memory (capped) in order and are written again every retry interval. On a
 * full disk the oldest unsent rows are dropped, a chunk at a time, to make room (docs/mqtt.md, Full disk).
 */
export class Outbox implements Lifecycle {
  private readonly log: Logger;
  private readonly memoryMaxBytes: number;
  private readonly store: OutboxStore | undefined;
  private readonly inFlight = new Map<number, OutboxEntry>();
  private readonly order = new SendOrder(PAGE_SIZE);
  private deletes: Range[] = [];
  private deleteScheduled = false;
  private nextN = 1;
  private early: OutboxMessage[] = [];
  private lifecycle: 'new' | 'running' | 'stopped' = 'new';
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<() => void>();
  private notifyPending = false;
  private readonly counters = {
    pending: 0,
    pendingBytes: 0,
    acked: 0,
    dropped: 0,
    rejected: 0,
    diskErrors: 0,
    lostAtStop: 0,
    skippedLines: 0,
  };
  private diskOk = true;
  private storageError: string | null = null;
  private readonly diskErrorLog = new LogThrottle(LOG_INTERVAL_MS);
  private readonly dropLog = new LogThrottle(LOG_INTERVAL_MS);

  constructor(private readonly deps: OutboxDeps) {
    this.log = deps.logger;
    this.store = deps.database ? new OutboxStore(deps.database) : undefined;
    this.memoryMaxBytes = deps.memoryMaxBytes ?? Math.min(deps.maxBytes, 32 * 1024 * 1024);
  }

  /** Counts what earlier runs left and imports an old segment outbox. Never throws: the outbox then runs in memory. */
  async start(_signal: AbortSignal): Promise<void> {
    this.lifecycle = 'running';
    if (!this.store) {
      this.diskOk = false;
      this.storageError = this.deps.unavailable ?? 'no line record database';
      const fields = { code: 'LS_MQTT_OUTBOX', err: this.storageError, memoryMaxBytes: this.memoryMaxBytes };
      this.log.error(fields, 'MQTT outbox has no database: messages are held in memory only, lost if the daemon stops');
    } else {
      try {
        const { legacyDir: dir, database } = this.deps;
        const deps = { store: this.store, databaseFile: database?.file, logger: this.log };
        if (dir) this.counters.skippedLines += (await importSegmentOutbox({ ...deps, dir })).skippedLines;
        this.load(this.store);
      } catch (err) {
        this.diskError('MQTT outbox could not read the line record; new messages are held in memory for now', err);
      }
    }
    for (const message of this.early.splice(0)) this.enqueue(message);
    this.enforceBudget();
    if (this.counters.pending > 0) {
      const fields = { pending: this.counters.pending, bytes: this.counters.pendingBytes };
      this.log.info(fields, 'outbox holds unsent messages from an earlier run');
      this.notify();
    }
  }

  private load(store: OutboxStore): void {
    const { count, bytes, maxN } = store.totals();
    this.counters.pending = count;
    this.counters.pendingBytes = bytes;
    this.nextN = maxN + 1;
    if (count > 0) this.order.storedBeyondPage();
  }

  /** Stores what waits in memory and the pending deletes, one last time. Never throws; the database stays open. */
  stop(): Promise<void> {
    if (this.lifecycle === 'stopped') return Promise.resolve();
    this.lifecycle = 'stopped';
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.store) this.writeHeld(this.store);
    const lost = this.order.memoryOnlyCount;
    this.counters.lostAtStop = lost;
    if (lost > 0) {
      // Not rate-limited like the other disk errors: this is the last chance to say these verdicts are gone.
      const fields = { code: 'LS_MQTT_OUTBOX', lost, pending: this.counters.pending, err: this.storageError };
      this.log.error(fields, 'MQTT outbox could not store messages at stop; they are lost unless the broker has them');
    }
    return Promise.resolve();
  }

  /** Stores a message (a synchronous INSERT) and returns. Drops the oldest unsent entries past the budget. */
  enqueue(message: OutboxMessage): void {
    if (this.lifecycle === 'new') {
      // Numbered at start, after what earlier runs left, so delivery order stays enqueue order.
      this.early.push(message);
      return;
    }
    if (this.lifecycle === 'stopped') {
      const fields = { code: 'LS_MQTT_OUTBOX', topic: message.topic };
      this.log.warn(
        fields,
        'outbox: message enqueued after stop is not sent by this run; stop MQTT after the pipeline',
      );
    }
    const { topic, payload, retain } = message;
    const entry: OutboxEntry = { n: this.nextN++, topic, payload, retain, bytes: entryBytes(message) };
    this.counters.pending++;
    this.counters.pendingBytes += entry.bytes;
    if (this.store && !this.order.spilling) this.write(this.store, entry);
    else this.hold(entry);
    this.enforceBudget();
    this.notify();
  }

  /** The next entry to publish, in order, marked in flight; undefined when none is waiting. */
  takeNext(): OutboxEntry | undefined {
    const entry = this.order.next(this.store ? (after, limit) => this.read(after, limit) : undefined);
    if (entry) this.inFlight.set(entry.n, entry);
    return entry;
  }

  /** The broker acknowledged in-flight entry `n`: it will not be sent again. */
  ack(n: number): void {
    if (this.settle(n)) this.counters.acked++;
  }

  /**
   * The broker refused in-flight entry `n` for good (e.g. MQTT 5 "not authorized"): it is dropped and counted
   * as rejected, so it no longer holds back everything queued behind it.
   */
  reject(n: number): void {
    if (this.settle(n)) this.counters.rejected++;
  }

  private settle(n: number): boolean {
    const entry = this.inFlight.get(n);
    if (!entry) return false;
    this.inFlight.delete(n);
    this.finish(entry);
    return true;
  }

  /** Puts one in-flight entry back (its publish failed); it is the next one handed out. */
  release(n: number): void {
    const entry = this.inFlight.get(n);
    if (!entry) return;
    this.inFlight.delete(n);
    this.order.putBack(entry);
  }

  /** Called whenever an entry becomes available to send. Returns a function that removes the listener. */
  onAvailable(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): OutboxStats {
    const { inFlight, diskOk, storageError } = this;
    return {
      ...this.counters,
      inFlight: inFlight.size,
      diskOk,
      storageError,
      heldEntries: this.order.length + inFlight.size,
    };
  }

  /** Runs the pending deletes and a write of what waits in memory now, not at the next turn or retry. For tests. */
  flush(): Promise<void> {
    if (this.store) this.writeHeld(this.store);
    return Promise.resolve();
  }

  private write(store: OutboxStore, entry: OutboxEntry): void {
    try {
      store.insert(entry);
      this.order.stored(entry);
    } catch (err) {
      if (isDiskFull(err) && this.insertAfterMakingRoom(store, entry)) return;
      this.diskError('could not write the MQTT outbox; new messages wait in memory and the write is retried', err);
      this.hold(entry);
    }
  }

  /** Disk full: drops a chunk of the oldest unsent rows (their pages are reused) and tries once more. */
  private insertAfterMakingRoom(store: OutboxStore, entry: OutboxEntry): boolean {
    if (this.dropOldest(FULL_DROP_BYTES, 'disk_full', false) === 0) return false;
    try {
      this.runDeletes(store);
      store.insert(entry);
      this.order.stored(entry);
      return true;
    } catch {
      return false;
    }
  }

  /** Keeps an entry in memory, after every stored one, until a retry writes it. Capped: the oldest go first. */
  private hold(entry: OutboxEntry): void {
    this.order.hold(entry);
    const over = this.order.spillBytes - this.memoryMaxBytes;
    if (over > 0) this.countDropped(this.dropEach(() => this.order.shiftSpilled(), over).count, 'memory');
    this.scheduleRetry();
  }

  private read(after: number, limit: number): OutboxEntry[] | undefined {
    try {
      return this.store?.after(after, limit);
    } catch (err) {
      this.diskError('could not read the MQTT outbox; sending resumes when it can be read', err);
      return undefined;
    }
  }

  /** An entry is done (acknowledged, refused or dropped): counted out, and its row deleted in the next batch. */
  private finish(entry: OutboxEntry): void {
    this.counters.pending--;
    this.counters.pendingBytes -= entry.bytes;
    if (this.order.forget(entry.n)) this.deleteLater(entry.n, entry.n);
  }

  private deleteLater(from: number, to: number): void {
    if (!this.store) return;
    const last = this.deletes[this.deletes.length - 1];
    if (last && last[1] + 1 === from) last[1] = to;
    else this.deletes.push([from, to]);
    if (this.deleteScheduled || this.lifecycle !== 'running') return;
    this.deleteScheduled = true;
    // One transaction per turn for all the acks of that turn.
    setImmediate(() => {
      this.deleteScheduled = false;
      if (!this.store || this.deletes.length === 0) return;
      try {
        this.runDeletes(this.store);
      } catch (err) {
        this.diskError('could not delete acknowledged MQTT outbox rows; retried (they are not sent again)', err);
      }
    });
  }

  private runDeletes(store: OutboxStore): void {
    if (this.deletes.length === 0) return;
    store.deleteAll(this.deletes);
    this.deletes = [];
  }

  private enforceBudget(): void {
    const over = this.counters.pendingBytes - this.deps.maxBytes;
    if (over > 0) this.dropOldest(over, 'budget', true);
  }

  /**
   * Drops the oldest entries not on the wire (in-flight ones cannot be recalled) until `bytes` are freed: put-back
   * ones and the read page, the rows after it, then (when `memory`) those waiting in memory. Returns how many.
   */
  private dropOldest(bytes: number, reason: 'budget' | 'disk_full', memory: boolean): number {
    let { count, bytes: freed } = this.dropEach(() => this.order.shiftUnsent(), bytes);
    if (freed < bytes && this.store) {
      const rows = this.dropStoredAfterPage(this.store, bytes - freed);
      freed += rows.bytes;
      count += rows.count;
    }
    if (memory && freed < bytes) count += this.dropEach(() => this.order.shiftSpilled(), bytes - freed).count;
    this.countDropped(count, reason);
    return count;
  }

  /** Drops rows numbered after the page (never read into memory) by their sizes alone. */
  private dropStoredAfterPage(store: OutboxStore, bytes: number): { count: number; bytes: number } {
    const from = this.order.readPos + 1;
    try {
      const oldest = store.oldestAfter(this.order.readPos, bytes);
      if (oldest.count === 0) return oldest;
      this.counters.pending -= oldest.count;
      this.counters.pendingBytes -= oldest.bytes;
      this.order.readPos = oldest.lastN;
      this.deleteLater(from, oldest.lastN);
      return oldest;
    } catch (err) {
      this.diskError('could not read the MQTT outbox to drop its oldest rows', err);
      return { count: 0, bytes: 0 };
    }
  }

  /** Drops what `shift` hands out, oldest first, until `bytes` are freed. */
  private dropEach(shift: () => OutboxEntry | undefined, bytes: number): { count: number; bytes: number } {
    const done = { count: 0, bytes: 0 };
    for (let entry = shift(); entry; entry = done.bytes < bytes ? shift() : undefined) {
      this.finish(entry);
      done.bytes += entry.bytes;
      done.count++;
    }
    return done;
  }

  private countDropped(count: number, reason: 'budget' | 'disk_full' | 'memory'): void {
    if (count === 0) return;
    this.counters.dropped += count;
    const line = this.dropLog.due(count);
    if (!line) return;
    const fields = {
      code: 'LS_MQTT_OUTBOX_FULL',
      reason,
      dropped: line.count,
      droppedTotal: this.counters.dropped,
      maxBytes: reason === 'memory' ? this.memoryMaxBytes : this.deps.maxBytes,
    };
    this.log.error(fields, 'MQTT outbox full: oldest unsent messages dropped');
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.lifecycle !== 'running' || !this.store) return;
    const store = this.store;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.writeHeld(store);
    }, this.deps.retryDelayMs ?? 1000);
  }

  /** Runs the pending deletes, then stores every memory-only entry in one transaction; making room if the disk is full. */
  private writeHeld(store: OutboxStore): void {
    try {
      this.runDeletes(store);
      const held = this.order.memoryEntries();
      if (held.length > 0) {
        try {
          store.insertAll(held);
        } catch (err) {
          if (!isDiskFull(err) || this.dropOldest(FULL_DROP_BYTES, 'disk_full', false) === 0) throw err;
          this.runDeletes(store);
          store.insertAll(held);
        }
        this.order.allStored();
      }
      this.recovered();
    } catch (err) {
      this.diskError('could not write the MQTT outbox; new messages wait in memory and the write is retried', err);
    }
  }

  private recovered(): void {
    if (this.diskOk) return;
    this.diskOk = true;
    this.storageError = null;
    this.diskErrorLog.reset();
    this.log.info({ code: 'LS_MQTT_OUTBOX', diskErrors: this.counters.diskErrors }, 'MQTT outbox writable again');
    this.notify();
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

  private diskError(message: string, err: unknown): void {
    this.counters.diskErrors++;
    this.diskOk = false;
    this.storageError = errorMessage(err);
    const line = this.diskErrorLog.due();
    if (line) {
      const fields = { code: 'LS_MQTT_OUTBOX', err: this.storageError, diskErrors: this.counters.diskErrors };
      this.log.error(fields, message);
    }
    this.scheduleRetry();
  }
}
