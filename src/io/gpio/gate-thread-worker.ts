/**
 * The gate thread: sleeps until a planned switch is near, spins the last few hundred microseconds, switches the
 * output itself and only then tells the event loop. It never returns to its own event loop while running, so
 * nothing queued anywhere can delay it; the plan arrives through shared memory (gate-thread-protocol.ts).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readlinkSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import {
  CELL,
  F64,
  FIRING,
  INT32_CELLS,
  type FromGateThread,
  type GateThreadInit,
  type Outcome,
} from './gate-thread-protocol.js';
import { monotonicMinusPerfMs } from './line-core.js';

const init = workerData as GateThreadInit;
const cells = new Int32Array(init.control, 0, INT32_CELLS);
const f64 = new Float64Array(init.control, INT32_CELLS * 4);
// The loop's performance.now() = this thread's performance.now() + shiftMs (both anchored on CLOCK_MONOTONIC).
const shiftMs = monotonicMinusPerfMs() - init.loopMonotonicMinusPerfMs;
const now = (): number => performance.now() + shiftMs;

function post(message: FromGateThread): void {
  parentPort?.postMessage(message);
}

function opener(): { write: (active: boolean) => void; close: () => void } {
  const target = init.target;
  if (target.kind === 'shared') {
    const wire = new Int32Array(target.wire);
    return { write: (active) => void Atomics.store(wire, 0, active ? 1 : 0), close: () => undefined };
  }
  const fd = openSync(target.path, 'r+');
  return {
    write: (active) => void writeSync(fd, active ? target.activeText : target.inactiveText, 0),
    close: () => closeSync(fd),
  };
}

function run(output: { write: (active: boolean) => void }): void {
  while (Atomics.load(cells, CELL.stop) === 0) {
    const bell = Atomics.load(cells, CELL.bell);
    const ticket = Atomics.load(cells, CELL.ticket);
    if (ticket <= 0) {
      Atomics.wait(cells, CELL.bell, bell);
      continue;
    }
    const dueMs = f64[F64.dueMs] ?? Number.NaN;
    const active = Atomics.load(cells, CELL.level) === 1;
    // The loop may have replaced the plan while we read it: read again.
    if (Atomics.load(cells, CELL.ticket) !== ticket) continue;
    const remainingMs = dueMs - now();
    if (remainingMs > init.spinMs) {
      Atomics.wait(cells, CELL.bell, bell, remainingMs - init.spinMs);
      continue;
    }
    let withdrawn = false;
    while (now() < dueMs) {
      if (Atomics.load(cells, CELL.ticket) !== ticket) {
        withdrawn = true;
        break;
      }
    }
    if (withdrawn || Atomics.compareExchange(cells, CELL.ticket, ticket, FIRING) !== ticket) continue;
    let failure: string | undefined;
    try {
      output.write(active);
    } catch (err) {
      failure = err instanceof Error ? err.message : String(err);
    }
    const switchedMs = now();
    f64[F64.switchedMs] = switchedMs;
    Atomics.store(cells, CELL.ok, failure === undefined ? 1 : 0);
    Atomics.store(cells, CELL.doneTicket, ticket);
    Atomics.store(cells, CELL.ticket, 0);
    Atomics.notify(cells, CELL.doneTicket);
    post(
      failure === undefined
        ? { type: 'switched', ticket, timeMs: switchedMs }
        : { type: 'write_failed', ticket, message: failure },
    );
  }
}

/** Runs util-linux `tool` on this thread's id: Node has no API for sched_setscheduler or sched_setaffinity. */
function onThisThread(tool: string, args: string[]): Outcome {
  try {
    const tid = readlinkSync('/proc/thread-self').split('/').pop() ?? '';
    execFileSync(tool, [...args, tid], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 });
    return { ok: true };
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return { ok: false, reason: stderr || (err instanceof Error ? err.message : String(err)) };
  }
}

/**
 * Real-time priority for this thread only: a woken SCHED_FIFO thread preempts every normal one at once, so the
 * event loop, V8's helper threads and inference cannot hold it off the CPU around a due time (needs
 * RLIMIT_RTPRIO or CAP_SYS_NICE). Pinned to its own CPU when there are several gate threads.
 */
const priority = init.rtPriority > 0 ? onThisThread('chrt', ['--fifo', '--pid', String(init.rtPriority)]) : null;
const pinned = init.cpu === null ? null : onThisThread('taskset', ['--cpu-list', '--pid', String(init.cpu)]);

let output: ReturnType<typeof opener> | undefined;
try {
  output = opener();
} catch (err) {
  post({ type: 'open_failed', message: err instanceof Error ? err.message : String(err) });
}
if (output !== undefined) {
  post({ type: 'ready', priority, pinned, cpu: init.cpu });
  try {
    run(output);
  } finally {
    output.close();
  }
}
