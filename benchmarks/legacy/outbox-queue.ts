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

/** One entry in the outbox and where it stands. */
export interface Slot {
  entry: OutboxEntry;
  state: 'queued' | 'inflight' | 'done';
  /** True while the slot sits in the Outbox's `unwritten` list (its line is not on disk yet). */
  unwritten: boolean;
}

/** FIFO of slots with O(1) removal at the front; vacated cells are cleared so their payloads can be collected. */
export class SlotQueue {
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

/** Slots whose line is not on disk yet, in entry order; finished ones stay until the next batch or a compaction. */
export class UnwrittenSlots {
  private slots: Slot[] = [];
  /** Slots here that were acknowledged or dropped since; compacted away when they pile up. */
  private done = 0;

  /** Includes finished slots not yet compacted away. */
  get length(): number {
    return this.slots.length;
  }

  /** Finished slots still referenced here (they keep their payloads alive). */
  get doneCount(): number {
    return this.done;
  }

  /** Slots here still pending (not finished). */
  pendingCount(): number {
    return this.slots.filter((slot) => slot.state !== 'done').length;
  }

  push(slot: Slot): void {
    this.slots.push(slot);
  }

  clear(): void {
    this.slots = [];
    this.done = 0;
  }

  /** A slot here was finished (acked, dropped or rejected). */
  finished(): void {
    this.done++;
    // While the disk fails nothing leaves this list: drop finished slots before they pile up.
    if (this.done > 1024 && this.done * 2 > this.slots.length) {
      this.slots = this.slots.filter((slot) => slot.state !== 'done');
      this.done = 0;
    }
  }

  /** Takes the pending slots out as one batch to write. */
  takeBatch(): Slot[] {
    // Detached, so compaction during the write cannot shift what this batch covers.
    const batch = this.slots.filter((slot) => slot.state !== 'done');
    this.clear();
    for (const slot of batch) slot.unwritten = false;
    return batch;
  }

  /** A batch failed to be written: its slots still pending go back in front of those enqueued since. */
  putBack(batch: Slot[]): void {
    const retry = batch.filter((slot) => slot.state !== 'done');
    for (const slot of retry) slot.unwritten = true;
    this.slots = [...retry, ...this.slots];
    this.done = this.slots.filter((slot) => slot.state === 'done').length;
  }
}
