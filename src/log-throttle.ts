/** What a throttle says when a line is due. */
export interface DueLine {
  /** Occurrences since the last line, this one included: "dropped N", "N attempts failed". */
  count: number;
  /** The first line since construction or reset(): "broker unreachable", where later ones say "still". */
  first: boolean;
}

/**
 * One log line per interval for something that can happen thousands of times a minute (a broker that stays
 * down, a full outbox, a failing disk), with the count of what happened in between, so an outage is neither
 * silent nor a flood that buries the journal. The first occurrence is logged at once.
 *
 *     const line = throttle.due();
 *     if (line) log.error({ dropped: line.count }, 'outbox full: oldest messages dropped');
 *
 * Time comes from `nowMs` (Date.now by default, read at each call so that fake timers apply).
 */
export class LogThrottle {
  #lastLineMs = Number.NEGATIVE_INFINITY;
  #count = 0;
  #lines = 0;

  constructor(
    private readonly intervalMs: number,
    private readonly nowMs: () => number = () => Date.now(),
  ) {}

  /** Record `count` occurrences; returns what to log when a line is due now, undefined while it is quiet. */
  due(count = 1): DueLine | undefined {
    this.#count += count;
    const nowMs = this.nowMs();
    if (nowMs - this.#lastLineMs < this.intervalMs) return undefined;
    const line = { count: this.#count, first: this.#lines === 0 };
    this.#lastLineMs = nowMs;
    this.#count = 0;
    this.#lines += 1;
    return line;
  }

  /** The condition is over (the broker is back): the next occurrence is a first line again, logged at once. */
  reset(): void {
    this.#lastLineMs = Number.NEGATIVE_INFINITY;
    this.#count = 0;
    this.#lines = 0;
  }
}
