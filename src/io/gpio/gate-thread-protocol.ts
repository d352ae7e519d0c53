import type { OffThreadSwitch } from '../../domain/ports.js';

/**
 * Shared memory between the event loop and the gate thread: Int32 cells, then Float64 cells.
 * Tickets are never reused (a counter), so a compare-and-swap on TICKET decides who owns a plan:
 * the loop withdraws it (ticket -> 0) or the thread takes it to switch (ticket -> FIRING), never both.
 */
export const CELL = {
  /** Bumped and notified whenever the loop changes the plan or asks the thread to stop. */
  bell: 0,
  stop: 1,
  /** The planned switch: its ticket, 0 for none, FIRING while the thread switches. */
  ticket: 2,
  /** Logical level to switch to (1 active, 0 inactive). */
  level: 3,
  /** Ticket of the last switch the thread finished (result in the Float64 cells and ok). */
  doneTicket: 4,
  /** 1 when the last finished switch was written, 0 when the write failed. */
  ok: 5,
} as const;
export const INT32_CELLS = 8;
/** Float64 cells, after the Int32 ones: due time and switch time, in the loop's monotonic ms. */
export const F64 = { dueMs: 0, switchedMs: 1 } as const;
export const F64_CELLS = 2;
export const FIRING = -1;

export interface GateThreadInit {
  control: SharedArrayBuffer;
  target: OffThreadSwitch;
  /** Spin (instead of sleeping) for the last spinMs before a due time: sleeps wake up late. */
  spinMs: number;
  /** CLOCK_MONOTONIC minus the loop's performance.now(); the thread converts its own clock with it. */
  loopMonotonicMinusPerfMs: number;
  /** SCHED_FIFO priority the thread asks for (through chrt); 0 = stay at the process's policy. */
  rtPriority: number;
  /** CPU to pin this thread to (taskset); null = leave the affinity alone. */
  cpu: number | null;
}

/** null: not asked for; otherwise whether it took effect, and why not. */
export type Outcome = { ok: true } | { ok: false; reason: string } | null;

export type FromGateThread =
  /** Whether the thread runs SCHED_FIFO and is pinned to its CPU. */
  | { type: 'ready'; priority: Outcome; pinned: Outcome; cpu: number | null }
  | { type: 'switched'; ticket: number; timeMs: number }
  | { type: 'write_failed'; ticket: number; message: string }
  | { type: 'open_failed'; message: string };
