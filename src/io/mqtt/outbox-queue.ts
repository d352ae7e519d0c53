import type { Logger } from 'pino';
import type { RecordDatabase } from '../../record/database.js';

/** A message waiting for the broker. `n` orders entries across restarts; it is not the part sequence number. */
export interface OutboxEntry {
  readonly n: number;
  readonly topic: string;
  readonly payload: string;
  readonly retain: boolean;
  /** Bytes this entry counts against `mqtt.outbox_max_mb` (topic, payload and a fixed row overhead). */
  readonly bytes: number;
}

export interface OutboxMessage {
  topic: string;
  payload: string;
  retain: boolean;
}

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

/** What one stored row costs besides its topic and payload (row header, key, flags): an estimate, for the budget. */
const ROW_OVERHEAD_BYTES = 16;

export function entryBytes(message: OutboxMessage): number {
  return Buffer.byteLength(message.topic) + Buffer.byteLength(message.payload) + ROW_OVERHEAD_BYTES;
}

/** FIFO with O(1) removal at the front; vacated cells are cleared so their payloads can be collected. */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}
