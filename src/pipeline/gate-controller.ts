import type { DigitalOutput, PlannedSwitch, SwitchResult, TimedSwitch } from '../domain/ports.js';
import type { Clock } from './clock.js';
import type { Scheduler } from './scheduler.js';

/**
 * What an energised (logically active) gate output does to the part.
 * - 'reject': energise to reject (air blast, pusher). De-energised = pass: NOT fail-safe on its own.
 * - 'pass': a diverter held in the pass position while energised; de-energised (daemon dead, power lost,
 *   safe state) = reject. Fail-safe. A reject "pulse" is then a drop to inactive.
 */
export type EnergisedPosition = 'reject' | 'pass';

export interface GateControllerDeps {
  output: DigitalOutput;
  clock: Clock;
  /** Fires the reject edge on time on the event loop (PreciseScheduler), when there is no usable `timed`. */
  scheduler: Scheduler;
  /**
   * Switches the output to reject from a thread of its own (the gate thread), so a busy event loop cannot make
   * the edge late. Pulse ends and every other write stay on the event loop.
   */
  timed?: TimedSwitch;
  /** Ends pulses; a millisecond late only lengthens the pulse, so a plain timer is enough. */
  coarse: Scheduler;
  pulseMs: number;
  minGapMs: number;
  merge: boolean;
  energisedPosition: EnergisedPosition;
  /** The gate went to reject for these parts (one pulse may cover several when merged). */
  onFired: (seqs: readonly number[], firedMs: number, requestedMs: number) => void;
  /** A write failed (LinesideError LS_GPIO_WRITE); for a reject edge, seqs are the parts it was for. */
  onWriteError: (err: unknown, seqs: readonly number[]) => void;
  /** A pulse ended and the gate is back in its pass position (shutdown waits for this). */
  onClosed?: () => void;
}

interface Request {
  seq: number;
  startMs: number;
}

/**
 * Drives the reject gate: one pulse per reject, pulseMs long, at least minGapMs between pulses, and
 * (merge) a reject due before the gate could close and reopen extends the current pulse instead.
 * Writes logical levels only; active_low is the driver's job. Safe state = inactive, always.
 */
export class GateController {
  private armed = false;
  private rejecting = false;
  /** Held in the reject position until releaseHold() (tracking lost). */
  private held = false;
  private rejectUntilMs = 0;
  private lastCloseMs = Number.NEGATIVE_INFINITY;
  private pending: Request[] = [];
  /** Rejects riding on an open pulse or a hold, each reported fired only when its own moment comes. */
  private readonly covered = new Map<Request, () => void>();
  private cancelTimer: (() => void) | undefined;
  /** The reject edge planned on the gate thread, and the request it opens for. */
  private planned: { head: Request; plan: PlannedSwitch | undefined } | undefined;
  private pulses = 0;

  constructor(private readonly deps: GateControllerDeps) {}

  get pulseCount(): number {
    return this.pulses;
  }

  get isRejecting(): boolean {
    return this.rejecting;
  }

  /** Level for "let the part pass" while armed; inactive (safe) otherwise. */
  private idleLevel(): boolean {
    return this.armed && this.deps.energisedPosition === 'pass';
  }

  private rejectLevel(): boolean {
    return this.deps.energisedPosition === 'reject';
  }

  /** Forces the safe (inactive) state. Called at boot before anything else touches the gate. */
  safe(): void {
    this.armed = false;
    this.held = false;
    this.clearTimer();
    this.dropCovered();
    this.rejecting = false;
    this.write(false, []);
  }

  /**
   * Writes the level the gate should have now again. True when the write succeeded (a failure is also
   * reported through onWriteError): the way to find out whether a gate that failed works again.
   */
  refresh(): boolean {
    // A reject edge the gate thread may just have made must be known before the level is written again.
    if (this.planned) {
      this.clearTimer();
      this.service();
    }
    return this.write(this.armed && this.rejecting ? this.rejectLevel() : this.idleLevel(), []);
  }

  /**
   * Holds the gate in its reject position until releaseHold(): for when the line no longer knows where its
   * parts are. Pending rejects are covered by the hold and reported fired. No-op while disarmed (safe state).
   */
  holdReject(): void {
    if (!this.armed || this.held) return;
    this.held = true;
    this.clearTimer();
    if (!this.rejecting) {
      this.rejecting = true;
      if (this.write(this.rejectLevel(), [])) this.pulses++;
    }
    this.rejectUntilMs = Number.POSITIVE_INFINITY;
    for (const r of this.pending.splice(0)) this.cover(r);
  }

  /** Ends a hold: the gate stays in reject for one more pulseMs (the last part held for), then returns to pass. */
  releaseHold(): void {
    if (!this.held) return;
    this.held = false;
    this.rejectUntilMs = this.deps.clock.now() + this.deps.pulseMs;
    this.service();
  }

  get isHeld(): boolean {
    return this.held;
  }

  /** Takes the gate out of safe state into its pass position. */
  arm(): void {
    this.armed = true;
    if (!this.rejecting) this.write(this.idleLevel(), []);
  }

  /**
   * Back to safe state. Rejects whose moment has not come (pending, or riding on a pulse or hold that safe state
   * cuts short) are dropped and returned in belt order: with energisedPosition 'pass' the safe state rejects
   * everything anyway; with 'reject' those parts will pass and the caller must say so.
   */
  disarm(): number[] {
    this.clearTimer();
    const dropped = [...this.dropCovered(), ...this.pending].sort((a, b) => a.startMs - b.startMs).map((r) => r.seq);
    this.pending = [];
    this.safe();
    return dropped;
  }

  /**
   * Ask for a reject starting at startMs (monotonic; in the past = as soon as possible).
   * False when disarmed: the gate is in safe state and will not move for this part.
   */
  request(seq: number, startMs: number): boolean {
    if (!this.armed) return false;
    if (this.held) {
      this.cover({ seq, startMs });
      return true;
    }
    let i = this.pending.length;
    while (i > 0 && (this.pending[i - 1]?.startMs ?? 0) > startMs) i--;
    this.pending.splice(i, 0, { seq, startMs });
    this.service();
    return true;
  }

  /**
   * The gate is (or will stay) in reject when r reaches it: reported fired at r's own moment, not before, so a
   * stop in between cannot leave a part recorded fired that the safe state let by.
   */
  private cover(r: Request): void {
    const nowMs = this.deps.clock.now();
    if (r.startMs <= nowMs) {
      this.deps.onFired([r.seq], nowMs, r.startMs);
      return;
    }
    this.covered.set(
      r,
      this.deps.coarse.at(r.startMs, () => {
        this.covered.delete(r);
        this.deps.onFired([r.seq], r.startMs, r.startMs);
      }),
    );
  }

  private dropCovered(): Request[] {
    const dropped = [...this.covered.keys()];
    for (const cancel of this.covered.values()) cancel();
    this.covered.clear();
    return dropped;
  }

  /**
   * Withdraws a reject the gate has not committed to yet (a provisional reject whose part was judged ok in time).
   * True when the gate will not move for it. False when it is too late: the edge was already switched (reported
   * through onFired before this returns), or the part rides on a pulse or hold that will be open when it gets
   * there (reported fired at its moment).
   */
  withdraw(seq: number): boolean {
    // The gate thread may be switching the head's edge right now: its cancel() decides which came first.
    if (this.planned?.head.seq === seq) this.clearTimer();
    const i = this.pending.findIndex((r) => r.seq === seq);
    if (i < 0) {
      this.service();
      return false;
    }
    this.pending.splice(i, 1);
    // Only the head is timed: withdrawing another changes no plan.
    if (i === 0) this.service();
    return true;
  }

  private clearTimer(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const planned = this.planned;
    if (planned === undefined) return;
    this.planned = undefined;
    const result = planned.plan?.cancel() ?? null;
    if (result) this.openedOnThread(planned.head, result);
  }

  /**
   * The gate went to reject for `head` at switchedMs, here or on the gate thread; undefined when the write failed
   * (already reported with head's seq, so the line records that part as not fired). A failed write opens no
   * pulse: the next reject must not be merged into a pulse that never happened, and gets its own write.
   */
  private opened(head: Request, switchedMs: number | undefined): void {
    const i = this.pending.indexOf(head);
    if (i >= 0) this.pending.splice(i, 1);
    if (switchedMs === undefined) return;
    this.rejecting = true;
    this.rejectUntilMs = switchedMs + this.deps.pulseMs;
    this.pulses++;
    this.deps.onFired([head.seq], switchedMs, head.startMs);
  }

  private openedOnThread(head: Request, result: SwitchResult): void {
    if ('error' in result) this.deps.onWriteError(result.error, [head.seq]);
    this.opened(head, 'error' in result ? undefined : result.timeMs);
  }

  private planOnThread(timed: TimedSwitch, head: Request, openMs: number): void {
    const planned: { head: Request; plan: PlannedSwitch | undefined } = { head, plan: undefined };
    this.planned = planned;
    planned.plan = timed.plan(this.rejectLevel(), openMs, (result) => {
      if (this.planned !== planned) return;
      this.planned = undefined;
      // null: the thread died before switching; service() times the edge on the event loop instead.
      if (result) this.openedOnThread(head, result);
      this.service();
    });
  }

  private write(level: boolean, seqs: readonly number[]): boolean {
    try {
      this.deps.output.write(level);
      return true;
    } catch (err) {
      this.deps.onWriteError(err, seqs);
      return false;
    }
  }

  /** Brings the output in line with the plan at the current time, then sleeps until the next change. */
  private service(): void {
    if (!this.armed || this.held) return;
    this.clearTimer();
    const { clock, pulseMs, minGapMs, merge } = this.deps;
    const nowMs = clock.now();

    if (this.rejecting) {
      if (merge) {
        // Anything due before the gate could close and reopen rides on this pulse.
        let head = this.pending[0];
        while (head !== undefined && head.startMs < this.rejectUntilMs + minGapMs) {
          this.pending.shift();
          this.rejectUntilMs = Math.max(this.rejectUntilMs, head.startMs + pulseMs);
          this.cover(head);
          head = this.pending[0];
        }
      }
      if (nowMs < this.rejectUntilMs) {
        this.cancelTimer = this.deps.coarse.at(this.rejectUntilMs, () => this.service());
        return;
      }
      this.rejecting = false;
      this.lastCloseMs = nowMs;
      this.write(this.idleLevel(), []);
      if (this.pending.length === 0) this.deps.onClosed?.();
    }

    const head = this.pending[0];
    if (head === undefined) return;
    const openMs = Math.max(head.startMs, this.lastCloseMs + minGapMs);
    if (nowMs < openMs) {
      const timed = this.deps.timed;
      if (timed?.usable) this.planOnThread(timed, head, openMs);
      else this.cancelTimer = this.deps.scheduler.at(openMs, () => this.service());
      return;
    }
    const written = this.write(this.rejectLevel(), [head.seq]);
    this.opened(head, written ? nowMs : undefined);
    this.service();
  }
}
