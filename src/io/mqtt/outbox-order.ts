import { Fifo, type OutboxEntry } from './outbox-queue.js';

/** Reads up to `limit` stored entries numbered above `after`, in order; undefined when the read failed. */
export type ReadRows = (after: number, limit: number) => OutboxEntry[] | undefined;

/**
 * What the outbox sends next, and all it keeps in memory: entries put back after a failed publish, one page of the
 * next stored rows, and the entries that could not be stored (in order, after every stored row). Rows beyond the
 * page stay in the database until the page runs dry, so memory does not grow with the backlog.
 */
export class SendOrder {
  /** Handed out, then put back after a failed publish; sorted, all numbered at most `readPos`. */
  private released: OutboxEntry[] = [];
  private readonly page = new Fifo<OutboxEntry>();
  /** Every stored row numbered above `readPos` is in the page (no need to read). */
  private pageHasTail = true;
  /** Rows numbered up to here were read into the page, handed out or dropped; later ones are only stored. */
  readPos = 0;
  /** Entries not stored, in order, after every stored row; written by the outbox's next retry. */
  private readonly spill = new Fifo<OutboxEntry>();
  spillBytes = 0;
  /** Every entry held only in memory (spilled ones, and those of them handed out), by number. */
  private readonly memoryOnly = new Map<number, OutboxEntry>();

  constructor(private readonly pageSize: number) {}

  /** Entries (with payloads) held here: put back, the page and the spilled ones. */
  get length(): number {
    return this.released.length + this.page.length + this.spill.length;
  }

  /** New entries must queue in memory behind the spilled ones, or they would overtake them. */
  get spilling(): boolean {
    return this.spill.length > 0;
  }

  /** Entries only in memory, handed out or not: what a stop that cannot store them loses. */
  get memoryOnlyCount(): number {
    return this.memoryOnly.size;
  }

  /** Stored rows exist beyond the page (found at start, imported, or written from memory). */
  storedBeyondPage(): void {
    this.pageHasTail = false;
  }

  /** An entry was stored: it joins the page when the page already holds every row before it (no read needed). */
  stored(entry: OutboxEntry): void {
    if (this.pageHasTail && this.page.length < this.pageSize) {
      this.page.push(entry);
      this.readPos = entry.n;
    } else {
      this.pageHasTail = false;
    }
  }

  /** An entry that could not be stored waits here, in order. */
  hold(entry: OutboxEntry): void {
    this.spill.push(entry);
    this.spillBytes += entry.bytes;
    this.memoryOnly.set(entry.n, entry);
  }

  /** The next entry in order; `read` is absent when there is no database. */
  next(read: ReadRows | undefined): OutboxEntry | undefined {
    const released = this.released.shift();
    if (released) return released;
    if (this.page.length === 0 && !this.pageHasTail && read) this.readPage(read);
    const fromPage = this.page.shift();
    if (fromPage) return fromPage;
    // Entries in memory come after every stored row: only once the database has nothing more to read.
    if (read && !this.pageHasTail) return undefined;
    const entry = this.shiftSpilled();
    if (entry) this.readPos = Math.max(this.readPos, entry.n);
    return entry;
  }

  private readPage(read: ReadRows): void {
    const rows = read(this.readPos, this.pageSize);
    if (!rows) return;
    for (const row of rows) this.page.push(row);
    const last = rows[rows.length - 1];
    if (last) this.readPos = last.n;
    this.pageHasTail = rows.length < this.pageSize;
  }

  /** A handed-out entry goes back, in number order, ahead of everything else. */
  putBack(entry: OutboxEntry): void {
    const at = this.released.findIndex((e) => e.n > entry.n);
    this.released.splice(at === -1 ? this.released.length : at, 0, entry);
  }

  /** The entry is done; true when it has a stored row to delete. */
  forget(n: number): boolean {
    return !this.memoryOnly.delete(n);
  }

  /** The oldest entry not on the wire among those put back and the page (for dropping). */
  shiftUnsent(): OutboxEntry | undefined {
    return this.released.shift() ?? this.page.shift();
  }

  /** The oldest entry waiting in memory (for sending or dropping). */
  shiftSpilled(): OutboxEntry | undefined {
    const entry = this.spill.shift();
    if (entry) this.spillBytes -= entry.bytes;
    return entry;
  }

  memoryEntries(): OutboxEntry[] {
    return [...this.memoryOnly.values()];
  }

  /** Every memory-only entry was stored: those not yet handed out are read back from the database in order. */
  allStored(): void {
    this.memoryOnly.clear();
    this.spill.clear();
    this.spillBytes = 0;
    this.pageHasTail = false;
  }
}
