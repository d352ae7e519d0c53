import type { Part } from '../part.js';

/**
 * Knows where parts are between the photo-eye and the gate, by time (a belt of known speed) or by encoder
 * counts, and tells the line when each part reaches the gate. The line decides what the gate does then.
 */
export interface Tracker {
  /** Start following the belt (the encoder subscribes). */
  start(): void;
  /** Stop following the belt and forget the parts on it (the line settles them). */
  stop(): void;
  /** A new part at the photo-eye: its gate moment (record.tracking.dueMs or dueCount) and its verdict deadline. */
  track(part: Part): void;
  /** The part has just been decided. Time mode hands a reject to the gate at once, so the gate can time it. */
  decided(part: Part): void;
  /** The part settled: it is no longer on the belt. */
  forget(part: Part): void;
  /** False while the tracker cannot say where parts are (encoder stalled): the line is not healthy. */
  readonly healthy: boolean;
}

/** What a tracker asks of the line. */
export interface TrackerHost {
  /**
   * The part is at the gate (minus the actuator lead), or a decided reject is handed over ahead of its moment:
   * an undecided part is rejected 'late', a reject is requested from the gate starting at rejectFromMs, and a
   * pass settles as 'passed' (so trackers hand a pass over only when it goes by).
   */
  toGate(part: Part, rejectFromMs: number): void;
  /**
   * Plans a reject at rejectFromMs for a part not decided yet (time tracking): the gate rejects it at its moment
   * unless withdraw() comes first.
   */
  provisional(part: Part, rejectFromMs: number): void;
  /** A pass verdict withdraws the provisional reject: false when too late (the gate records it as a reject). */
  withdraw(part: Part): boolean;
  /** The verdict deadline passed with the part still on the belt: reject it 'late' if it is still undecided. */
  late(part: Part): void;
  /**
   * The tracker lost the parts' positions (encoder stalled): the gate is held in reject until releaseHold, and
   * the alarm names the part that tripped it.
   */
  holdGate(message: string, partId: string): void;
  releaseHold(): void;
  /** A part that goes by while the gate is held: rejected whatever its verdict, and settled. */
  settleHeld(part: Part): void;
}
