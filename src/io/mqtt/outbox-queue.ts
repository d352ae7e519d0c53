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

  peek(): T | undefined {
    return this.items[this.head];
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

  values(): T[] {
    return this.items.slice(this.head) as T[];
  }

  clear(): T[] {
    const all = this.values();
    this.items = [];
    this.head = 0;
    return all;
  }
}
