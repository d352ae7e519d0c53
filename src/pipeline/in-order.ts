/**
 * Releases items numbered 1, 2, 3, ... in number order, whatever order they complete in: SCADA gets verdicts in
 * part order although a reject waiting for its confirm window completes after the passes behind it. Every number
 * must come (the line settles every part it creates, at the latest when it stops), or the ones after it wait.
 */
export class InOrder<T> {
  private next = 1;
  private readonly waiting = new Map<number, T>();

  constructor(private readonly release: (item: T) => void) {}

  /** Items held back, waiting for an earlier one. */
  get held(): number {
    return this.waiting.size;
  }

  add(seq: number, item: T): void {
    this.waiting.set(seq, item);
    for (let ready = this.waiting.get(this.next); ready !== undefined; ready = this.waiting.get(this.next)) {
      this.waiting.delete(this.next);
      this.next++;
      this.release(ready);
    }
  }
}
