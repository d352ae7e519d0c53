import type { Logger } from 'pino';
import type { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { LinesideError, errorMessage } from '../../errors.js';
import type { Lifecycle } from '../../domain/ports.js';
import { siblingModule, startWorker } from '../../worker.js';
import {
  CELL,
  F64,
  F64_CELLS,
  FIRING,
  INT32_CELLS,
  type FromGateThread,
  type GateThreadInit,
} from './gate-thread-protocol.js';
import { monotonicMinusPerfMs } from './line-core.js';
import type { DigitalOutput, PlannedSwitch, SwitchResult, TimedSwitch } from '../../domain/ports.js';

export interface GateThreadDeps {
  output: DigitalOutput;
  logger: Logger;
  /** Milliseconds before a due time at which the thread stops sleeping and spins (sleeps wake up late). */
  spinMs: number;
  /** SCHED_FIFO priority for the threads (gate.rt_priority); 0 = the process's own policy. */
  rtPriority?: number;
  /** Threads racing for each edge, each pinned to its own CPU (gate.threads); capped by leaveCpus. Default 1. */
  threads?: number;
  /**
   * CPUs left to the rest of the daemon (inference, the event loop): spinning real-time threads on every CPU would
   * starve inference on a small box. Default 1: at most (CPUs allowed - 1) threads, never fewer than 1.
   */
  leaveCpus?: number;
  /** For tests: another worker module. */
  workerUrl?: URL;
}

interface Plan {
  ticket: number;
  active: boolean;
  onSwitched: (result: SwitchResult | null) => void;
  /** Reported (message or cancel) or withdrawn: nothing more may happen to it. */
  settled: boolean;
}

/** A switch the thread took must finish within this; far longer than any GPIO write. */
const FINISH_TIMEOUT_MS = 200;
const STOP_TIMEOUT_MS = 1000;

/**
 * Times the reject edge from a worker thread of its own ("gate thread"), so that a blocked event loop (a GC pause,
 * a synchronous call, a burst of MQTT work) cannot make it late. The thread switches the output itself through the
 * driver's offThread() recipe and reports afterwards; the event loop learns of it through a message, or at once
 * when it withdraws a plan that has already switched (the compare-and-swap on the shared ticket decides).
 * If the thread dies, `usable` turns false and outstanding plans are handed back (onSwitched(null)) so the caller
 * times them on the event loop: late, never lost.
 */
export class GateThread implements TimedSwitch, Lifecycle {
  private workers: Worker[] = [];
  private cells: Int32Array | undefined;
  private f64: Float64Array | undefined;
  private plan_: Plan | undefined;
  private nextTicket = 1;
  private running = false;
  private stopping = false;
  private readies: Ready[] = [];

  constructor(private readonly deps: GateThreadDeps) {}

  get usable(): boolean {
    return this.running;
  }

  /** Whether every thread got the real-time priority asked for (null: none asked for, or not started). */
  get realtime(): boolean | null {
    if (this.readies.length === 0 || this.readies.some((r) => r.priority === null)) return null;
    return this.readies.every((r) => r.priority?.ok === true);
  }

  /** Why real-time priority or CPU pinning was refused, if it was. */
  get refusal(): string | undefined {
    return this.readies
      .flatMap((r) => [r.priority, r.pinned])
      .find((o): o is { ok: false; reason: string } => o !== null && !o.ok)?.reason;
  }

  /** CPUs the threads are pinned to (empty when not pinned). */
  get cpus(): number[] {
    return this.readies.flatMap((r) => (r.cpu === null ? [] : [r.cpu]));
  }

  /** Threads running. */
  get threadCount(): number {
    return this.workers.length;
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.workers.length > 0) return;
    const { output } = this.deps;
    const target = output.offThread?.();
    if (target === undefined) {
      throw new LinesideError(
        'LS_GPIO_UNAVAILABLE',
        `gpio output "${output.name}": this driver cannot switch it from the gate thread (use gate.timer: loop)`,
      );
    }
    const control = new SharedArrayBuffer(INT32_CELLS * 4 + F64_CELLS * 8);
    this.cells = new Int32Array(control, 0, INT32_CELLS);
    this.f64 = new Float64Array(control, INT32_CELLS * 4);
    const rtPriority = this.deps.rtPriority ?? 0;
    // One CPU each: a stalled CPU (a hypervisor or SMI pause) rarely stalls another at the same moment.
    const cpus = allowedCpus();
    const count = gateThreadCount(this.deps.threads ?? 1, cpus?.length ?? 1, this.deps.leaveCpus ?? 1);
    if (count < (this.deps.threads ?? 1)) {
      this.deps.logger.warn(
        { output: output.name, asked: this.deps.threads, threads: count, cpus: cpus?.length ?? 1 },
        `gate.threads capped at ${count}: ${this.deps.leaveCpus ?? 1} of the ${cpus?.length ?? 1} CPUs allowed stay free for inference and the event loop`,
      );
    }
    const loopMonotonicMinusPerfMs = monotonicMinusPerfMs();
    this.stopping = false;
    const url = this.deps.workerUrl ?? siblingModule(import.meta.url, 'gate-thread-worker');
    const starting = Array.from({ length: count }, (_, index) => {
      const cpu = count > 1 && cpus ? (cpus[cpus.length - 1 - index] ?? null) : null;
      const init: GateThreadInit = {
        control,
        target,
        spinMs: this.deps.spinMs,
        loopMonotonicMinusPerfMs,
        rtPriority,
        cpu,
      };
      const worker = startWorker(url, { workerData: init, name: `lineside-gate-${index}` });
      this.workers.push(worker);
      return untilReady(worker, signal);
    });
    const settled = await Promise.allSettled(starting);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      this.stopping = true;
      await Promise.all(this.workers.map((w) => w.terminate()));
      this.workers = [];
      throw new LinesideError(
        'LS_GPIO_UNAVAILABLE',
        `gpio output "${output.name}": the gate thread did not start: ${errorMessage(failed.reason)}`,
      );
    }
    this.readies = settled.map((r) => (r as PromiseFulfilledResult<Ready>).value);
    this.running = true;
    for (const worker of this.workers) {
      worker.on('message', (message: FromGateThread) => this.onMessage(message));
      worker.on('error', (err) => this.onDeath(worker, `failed: ${err.message}`));
      worker.on('exit', (code) => this.onDeath(worker, `exited with code ${code}`));
    }
    this.logStart(rtPriority);
  }

  private logStart(rtPriority: number): void {
    const fields = {
      output: this.deps.output.name,
      spinMs: this.deps.spinMs,
      rtPriority,
      threads: this.readies.length,
      cpus: this.readies.map((r) => r.cpu),
    };
    const what = `${this.readies.length} gate thread${this.readies.length === 1 ? '' : 's'}`;
    const refused = this.refusal;
    if (refused === undefined) {
      const priority = this.realtime === true ? `SCHED_FIFO ${rtPriority}` : 'normal priority';
      const pinned = this.cpus.length > 0 ? `, on CPUs ${this.cpus.join(', ')}` : '';
      this.deps.logger.info(fields, `${what} started: reject edges are timed off the event loop, ${priority}${pinned}`);
      return;
    }
    this.deps.logger.warn(
      { ...fields, reason: refused },
      `${what} started, but SCHED_FIFO ${rtPriority} or CPU pinning was refused (${refused}); the gate may be late while the CPU is busy. Grant LimitRTPRIO=${rtPriority} (systemd/lineside.service does) or set gate.rt_priority: 0`,
    );
  }

  async stop(): Promise<void> {
    const workers = this.workers;
    if (workers.length === 0 || !this.cells) return;
    this.stopping = true;
    this.running = false;
    this.withdraw();
    Atomics.store(this.cells, CELL.stop, 1);
    this.ring();
    await Promise.all(
      workers.map(async (worker) => {
        const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        const timer = setTimeout(() => void worker.terminate(), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }),
    );
    this.workers = [];
    this.readies = [];
  }

  plan(active: boolean, dueMs: number, onSwitched: (result: SwitchResult | null) => void): PlannedSwitch {
    const { cells, f64 } = this;
    if (!this.running || !cells || !f64)
      throw new LinesideError('LS_INTERNAL', 'gate thread: plan() while not running');
    this.withdraw();
    const plan: Plan = { ticket: this.takeTicket(), active, onSwitched, settled: false };
    f64[F64.dueMs] = dueMs;
    Atomics.store(cells, CELL.level, active ? 1 : 0);
    // Stored last: the thread reads the plan only under this ticket.
    Atomics.store(cells, CELL.ticket, plan.ticket);
    this.plan_ = plan;
    this.ring();
    return { cancel: () => this.cancel(plan) };
  }

  private takeTicket(): number {
    const ticket = this.nextTicket;
    this.nextTicket = ticket >= 0x7fff_ffff ? 1 : ticket + 1;
    return ticket;
  }

  private ring(): void {
    if (!this.cells) return;
    Atomics.add(this.cells, CELL.bell, 1);
    Atomics.notify(this.cells, CELL.bell);
  }

  /** Drops the current plan, if any, reporting a switch that already happened through its callback. */
  private withdraw(): void {
    const plan = this.plan_;
    if (!plan || plan.settled) return;
    const result = this.cancel(plan);
    if (result) plan.onSwitched(result);
  }

  private cancel(plan: Plan): SwitchResult | null {
    if (plan.settled) return null;
    plan.settled = true;
    if (this.plan_ === plan) this.plan_ = undefined;
    const cells = this.cells;
    if (!cells) return null;
    const seen = Atomics.compareExchange(cells, CELL.ticket, plan.ticket, 0);
    if (seen === plan.ticket) {
      this.ring();
      return null;
    }
    // The thread took it (FIRING) or has finished it: wait for the result, microseconds at most. The thread
    // publishes doneTicket before it clears FIRING, so reading the ticket first cannot miss a finished switch.
    const deadline = performance.now() + FINISH_TIMEOUT_MS;
    for (;;) {
      const ticket = Atomics.load(cells, CELL.ticket);
      if (Atomics.load(cells, CELL.doneTicket) === plan.ticket) break;
      // Neither finished nor in flight: the thread died before taking it, so nothing switched.
      if (ticket !== FIRING) return null;
      if (performance.now() > deadline) {
        return {
          error: new LinesideError(
            'LS_GPIO_WRITE',
            `gpio output "${this.deps.output.name}": the gate thread did not finish a switch within ${FINISH_TIMEOUT_MS} ms`,
          ),
        };
      }
    }
    return this.result(plan);
  }

  private result(plan: Plan): SwitchResult {
    const cells = this.cells!;
    if (Atomics.load(cells, CELL.ok) !== 1) {
      return {
        error: new LinesideError(
          'LS_GPIO_WRITE',
          `gpio output "${this.deps.output.name}": the gate thread's write failed`,
        ),
      };
    }
    const timeMs = this.f64![F64.switchedMs] ?? Number.NaN;
    this.deps.output.switchedOffThread?.(plan.active, timeMs);
    return { timeMs };
  }

  private onMessage(message: FromGateThread): void {
    const plan = this.plan_;
    if (message.type !== 'switched' && message.type !== 'write_failed') return;
    if (!plan || plan.settled || plan.ticket !== message.ticket) return;
    plan.settled = true;
    this.plan_ = undefined;
    if (message.type === 'switched') {
      this.deps.output.switchedOffThread?.(plan.active, message.timeMs);
      plan.onSwitched({ timeMs: message.timeMs });
    } else {
      plan.onSwitched({
        error: new LinesideError('LS_GPIO_WRITE', `gpio output "${this.deps.output.name}": ${message.message}`),
      });
    }
  }

  private onDeath(worker: Worker, why: string): void {
    if (!this.workers.includes(worker) || this.stopping) return;
    this.workers = this.workers.filter((w) => w !== worker);
    const cells = this.cells!;
    const plan = this.plan_;
    const left = this.workers.length;
    this.deps.logger.error(
      { code: 'LS_GPIO_UNAVAILABLE', output: this.deps.output.name, threadsLeft: left },
      left > 0
        ? `a gate thread ${why}; ${left} left`
        : `gate thread ${why}: reject edges are timed on the event loop from now on (less precise under load)`,
    );
    // A thread that died in the middle of a switch leaves the plan taken: nobody else will make it.
    const stuck =
      plan !== undefined &&
      !plan.settled &&
      Atomics.load(cells, CELL.ticket) === FIRING &&
      Atomics.load(cells, CELL.doneTicket) !== plan.ticket;
    if (left > 0 && !stuck) return;
    this.running = left > 0;
    if (!plan || plan.settled) return;
    plan.settled = true;
    this.plan_ = undefined;
    if (Atomics.load(cells, CELL.doneTicket) === plan.ticket) plan.onSwitched(this.result(plan));
    else if (stuck) {
      Atomics.compareExchange(cells, CELL.ticket, FIRING, 0);
      plan.onSwitched({
        error: new LinesideError(
          'LS_GPIO_WRITE',
          `gpio output "${this.deps.output.name}": a gate thread ${why} while switching it`,
        ),
      });
    } else plan.onSwitched(null);
  }
}

interface Ready {
  priority: Extract<FromGateThread, { type: 'ready' }>['priority'];
  pinned: Extract<FromGateThread, { type: 'ready' }>['pinned'];
  cpu: number | null;
}

/** Waits for a worker's 'ready'; rejects with the reason it did not get there. */
function untilReady(worker: Worker, signal: AbortSignal): Promise<Ready> {
  return new Promise<Ready>((resolve, reject) => {
    const fail = (message: string): void => {
      cleanup();
      reject(new Error(message));
    };
    const onMessage = (message: FromGateThread): void => {
      if (message.type === 'ready') {
        cleanup();
        resolve({ priority: message.priority, pinned: message.pinned, cpu: message.cpu });
      } else if (message.type === 'open_failed') fail(message.message);
    };
    const onError = (err: Error): void => fail(err.message);
    const onExit = (code: number): void => fail(`exited with code ${code}`);
    const onAbort = (): void => fail('start aborted');
    const cleanup = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      signal.removeEventListener('abort', onAbort);
    };
    worker.on('message', onMessage);
    worker.once('error', onError);
    worker.once('exit', onExit);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** CPUs this process may run on (its affinity mask), from /proc; undefined where that cannot be read. */
/** Threads to start: as many as asked, leaving `leaveCpus` of the allowed CPUs free, at least one. */
export function gateThreadCount(asked: number, cpuCount: number, leaveCpus: number): number {
  return Math.max(1, Math.min(asked, cpuCount - leaveCpus));
}

export function allowedCpus(): number[] | undefined {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1];
    return list === undefined ? undefined : parseCpuList(list);
  } catch {
    return undefined;
  }
}

/** "0-3,6" -> [0, 1, 2, 3, 6] */
export function parseCpuList(list: string): number[] {
  const cpus: number[] = [];
  for (const part of list.split(',')) {
    const [from, to] = part.split('-').map(Number);
    if (from === undefined || !Number.isInteger(from)) continue;
    for (let cpu = from; cpu <= (to ?? from); cpu++) cpus.push(cpu);
  }
  return cpus;
}
