import type { Logger } from 'pino';
import { errorMessage } from '../../errors.js';
import { LogThrottle } from '../../log-throttle.js';
import type { Lifecycle } from '../../domain/ports.js';
import type { RecordDatabase } from '../../record/database.js';
import { importSegmentOutbox } from './outbox-legacy.js';
import { entryBytes, Fifo, type OutboxEntry, type OutboxMessage } from './outbox-queue.js';
import { isDiskFull, OutboxStore, type Range } from './outbox-store.js';

export type { OutboxEntry, OutboxMessage } from './outbox-queue.js';
export { outboxMigrations } from './outbox-store.js';

export interface OutboxDeps {
  /** The line record's open database; undefined when it could not be opened: messages are held in memory only. */
  database?: RecordDatabase | undefined;
  /** Why there is no database (the state's storageError), when `database` is undefined. */
  unavailable?: string;
  /** Budget of unsent messages (mqtt.outbox_max_mb): past it the oldest unsent ones are dropped. */
  maxBytes: number;
  logger: Logger;
  /** A segment outbox of an earlier version (mqtt.outbox_dir) to import at start, when it exists. */
  legacyDir?: string;
  /** Milliseconds between attempts to write again after a failed write; default 1000. */
  retryDelayMs?: number;
  /** Bytes of messages that may wait in memory while nothing can be written; default min(maxBytes, 32 MiB). */
  memoryMaxBytes?: number;
}

export interface OutboxStats {
  /** Entries not yet acknowledged by the broker (queued or in flight). */
  pending: number;
  pendingBytes: number;
  inFlight: number;
  acked: number;
  /** Oldest unsent entries dropped: budget exceeded, disk full, or the memory cap while nothing could be written. */
  dropped: number;
  /** Failed writes or reads of the database. */
  diskErrors: number;
  /** Unreadable lines skipped while importing an old segment outbox. */
  skippedLines: number;
  /** False while the last database write failed: new entries then wait in memory. */
  diskOk: boolean;
  /** Why messages cannot be stored (no database, disk full...), null while they can. */
  storageError: string | null;
  /** Entries the broker refused permanently and that were dropped so later ones keep flowing (see `reject`). */
  rejected: number;
  /** Entries held only in memory that could not be stored at stop: they are lost with this process. */
  lostAtStop: number;
  /** Entries (with their payloads) held in memory: the read page, in flight, put back, and memory-only ones. */
  heldEntries: number;
}

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
  private readonly store: OutboxStore | undefined;
  /** Handed out, then put back after a failed publish; sorted, all numbered at most `readPos`. */
  private released: OutboxEntry[] = [];
  private readonly inFlight = new Map<number, OutboxEntry>();
  /** Rows read from the database, next in line. */
  private readonly page = new Fifo<OutboxEntry>();
  /** Every row numbered above `readPos` is in `page` (no need to read). */
  private pageHasTail = true;
  /** Rows numbered up to here were read into the page (or dropped); later ones are only in the database. */
  private readPos = 0;
  /** Entries not in the database, in order, after every row; written by the next retry. */
  private readonly spill = new Fifo<OutboxEntry>();
  private spillBytes = 0;
  /** Every entry held only in memory (spilled ones, and those of them handed out), by number. */
  private readonly memoryOnly = new Map<number, OutboxEntry>();
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
  }

  private get memoryMaxBytes(): number {
    return this.deps.memoryMaxBytes ?? Math.min(this.deps.maxBytes, 32 * 1024 * 1024);
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
        this.load(this.store);
        if (this.deps.legacyDir) await this.importLegacy(this.store, this.deps.legacyDir);
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
    this.pageHasTail = count === 0;
  }

  private async importLegacy(store: OutboxStore, dir: string): Promise<void> {
    const result = await importSegmentOutbox({ store, dir, firstN: this.nextN, logger: this.log });
    this.counters.skippedLines += result.skippedLines;
    if (result.entries.length === 0) return;
    for (const entry of result.entries) {
      this.counters.pending++;
      this.counters.pendingBytes += entry.bytes;
      this.nextN = entry.n + 1;
    }
    this.pageHasTail = false;
  }

  /** Stores what waits in memory and the pending deletes, one last time. Never throws; the database stays open. */
  stop(): Promise<void> {
    if (this.lifecycle === 'stopped') return Promise.resolve();
    this.lifecycle = 'stopped';
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.store) this.writeHeld(this.store);
    const lost = this.memoryOnly.size;
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
      this.log.warn(fields, 'outbox: message enqueued after stop is not sent by this run; stop MQTT after the pipeline');
    }
    const { topic, payload, retain } = message;
    const entry: OutboxEntry = { n: this.nextN++, topic, payload, retain, bytes: entryBytes(message) };
    this.counters.pending++;
    this.counters.pendingBytes += entry.bytes;
    if (this.store && this.spill.length === 0) this.write(this.store, entry);
    else this.hold(entry);
    this.enforceBudget();
    this.notify();
  }

  /** The next entry to publish, in order, marked in flight; undefined when none is waiting. */
  takeNext(): OutboxEntry | undefined {
    const entry = this.released.shift() ?? this.nextFromPage() ?? this.nextFromSpill();
    if (entry) this.inFlight.set(entry.n, entry);
    return entry;
  }

  /** The broker acknowledged in-flight entry `n`: it will not be sent again. */
  ack(n: number): void {
    const entry = this.inFlight.get(n);
    if (!entry) return;
    this.inFlight.delete(n);
    this.finish(entry);
    this.counters.acked++;
  }

  /**
   * The broker refused in-flight entry `n` for good (e.g. MQTT 5 "not authorized"): it is dropped and counted
   * as rejected, so it no longer holds back everything queued behind it.
   */
  reject(n: number): void {
    const entry = this.inFlight.get(n);
    if (!entry) return;
    this.inFlight.delete(n);
    this.finish(entry);
    this.counters.rejected++;
  }

  /** Puts one in-flight entry back (its publish failed); it is the next one handed out. */
  release(n: number): void {
    const entry = this.inFlight.get(n);
    if (!entry) return;
    this.inFlight.delete(n);
    const at = this.released.findIndex((e) => e.n > n);
    this.released.splice(at === -1 ? this.released.length : at, 0, entry);
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
      skippedLines: this.counters.skippedLines,
      diskOk: this.diskOk,
      storageError: this.storageError,
      rejected: this.counters.rejected,
      lostAtStop: this.counters.lostAtStop,
      heldEntries: this.page.length + this.released.length + this.inFlight.size + this.spill.length,
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
      this.appended(entry);
    } catch (err) {
      if (isDiskFull(err) && this.insertAfterMakingRoom(store, entry)) return;
      this.diskError('could not write the MQTT outbox; new messages wait in memory and the write is retried', err);
      this.hold(entry);
    }
  }

  /** A stored entry joins the page when the page already holds every row after it: no read needed to send it. */
  private appended(entry: OutboxEntry): void {
    if (this.pageHasTail && this.page.length < PAGE_SIZE) {
      this.page.push(entry);
      this.readPos = entry.n;
    } else {
      this.pageHasTail = false;
    }
  }

  /** Disk full: drops a chunk of the oldest unsent rows (their pages are reused) and tries once more. */
  private insertAfterMakingRoom(store: OutboxStore, entry: OutboxEntry): boolean {
    if (this.dropOldest(FULL_DROP_BYTES, 'disk_full', false) === 0) return false;
    try {
      this.runDeletes(store);
      store.insert(entry);
      this.appended(entry);
      return true;
    } catch {
      return false;
    }
  }

  /** Keeps an entry in memory, after every stored one, until a retry writes it. Capped: the oldest go first. */
  private hold(entry: OutboxEntry): void {
    this.spill.push(entry);
    this.spillBytes += entry.bytes;
    this.memoryOnly.set(entry.n, entry);
    if (this.spillBytes > this.memoryMaxBytes) {
      this.countDropped(this.dropSpilled(this.spillBytes - this.memoryMaxBytes), 'memory');
    }
    this.scheduleRetry();
  }

  private nextFromPage(): OutboxEntry | undefined {
    if (this.page.length === 0 && !this.pageHasTail && this.store) this.readPage(this.store);
    return this.page.shift();
  }

  /** Memory-only entries come after every stored row: only once the database has nothing more to read. */
  private nextFromSpill(): OutboxEntry | undefined {
    if (this.store && !this.pageHasTail) return undefined;
    const entry = this.spill.shift();
    if (!entry) return undefined;
    this.spillBytes -= entry.bytes;
    this.readPos = Math.max(this.readPos, entry.n);
    return entry;
  }

  private readPage(store: OutboxStore): void {
    try {
      const rows = store.after(this.readPos, PAGE_SIZE);
      for (const row of rows) this.page.push(row);
      const last = rows[rows.length - 1];
      if (last) this.readPos = last.n;
      this.pageHasTail = rows.length < PAGE_SIZE;
    } catch (err) {
      this.diskError('could not read the MQTT outbox; sending resumes when it can be read', err);
    }
  }

  /** An entry is done (acknowledged, refused or dropped): counted out, and its row deleted in the next batch. */
  private finish(entry: OutboxEntry): void {
    this.counters.pending--;
    this.counters.pendingBytes -= entry.bytes;
    if (!this.memoryOnly.delete(entry.n)) this.deleteLater(entry.n, entry.n);
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
   * ones, the read page, the rows after it, then (when `memory`) those waiting in memory. Returns how many.
   */
  private dropOldest(bytes: number, reason: 'budget' | 'disk_full', memory: boolean): number {
    let freed = 0;
    let count = 0;
    const drop = (entry: OutboxEntry): void => {
      this.finish(entry);
      freed += entry.bytes;
      count++;
    };
    while (freed < bytes && this.released.length > 0) drop(this.released.shift() as OutboxEntry);
    while (freed < bytes && this.page.length > 0) drop(this.page.shift() as OutboxEntry);
    if (freed < bytes && this.store) {
      const rows = this.dropStoredAfterPage(this.store, bytes - freed);
      freed += rows.bytes;
      count += rows.count;
    }
    if (memory && freed < bytes) count += this.dropSpilled(bytes - freed);
    this.countDropped(count, reason);
    return count;
  }

  /** Drops rows numbered after the page (never read into memory) by their sizes alone. */
  private dropStoredAfterPage(store: OutboxStore, bytes: number): { count: number; bytes: number } {
    let freed = 0;
    let count = 0;
    const from = this.readPos + 1;
    try {
      while (freed < bytes) {
        const rows = store.sizes(this.readPos, 256);
        for (const row of rows) {
          if (freed >= bytes) break;
          this.counters.pending--;
          this.counters.pendingBytes -= row.bytes;
          this.readPos = row.n;
          freed += row.bytes;
          count++;
        }
        if (rows.length < 256) break;
      }
    } catch (err) {
      this.diskError('could not read the MQTT outbox to drop its oldest rows', err);
    }
    if (count > 0) this.deleteLater(from, this.readPos);
    return { count, bytes: freed };
  }

  private dropSpilled(bytes: number): number {
    let freed = 0;
    let count = 0;
    while (freed < bytes) {
      const entry = this.spill.shift();
      if (!entry) break;
      this.spillBytes -= entry.bytes;
      this.finish(entry);
      freed += entry.bytes;
      count++;
    }
    return count;
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
      const held = [...this.memoryOnly.values()];
      if (held.length > 0) {
        try {
          store.insertAll(held);
        } catch (err) {
          if (!isDiskFull(err) || this.dropOldest(FULL_DROP_BYTES, 'disk_full', false) === 0) throw err;
          this.runDeletes(store);
          store.insertAll(held);
        }
        this.memoryOnly.clear();
        this.spill.clear();
        this.spillBytes = 0;
        this.pageHasTail = false;
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
