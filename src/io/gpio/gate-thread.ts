import type { Logger } from 'pino';
import type { Worker } from 'node:worker_threads';
import { LinesideError } from '../../errors.js';
import type { Lifecycle } from '../../lifecycle.js';
import { siblingModule, startWorker } from '../../worker.js';
import { CELL, F64, F64_CELLS, FIRING, INT32_CELLS, type FromGateThread, type GateThreadInit } from './gate-thread-protocol.js';
import { monotonicMinusPerfMs } from './line-core.js';
import type { DigitalOutput, PlannedSwitch, SwitchResult, TimedSwitch } from './types.js';

export interface GateThreadDeps {
  output: DigitalOutput;
  logger: Logger;
  /** Milliseconds before a due time at which the thread stops sleeping and spins (sleeps wake up late). */
  spinMs: number;
  /** SCHED_FIFO priority for the thread (gate.rt_priority); 0 = the process's own policy. */
  rtPriority?: number;
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
  private worker: Worker | undefined;
  private cells: Int32Array | undefined;
  private f64: Float64Array | undefined;
  private plan_: Plan | undefined;
  private nextTicket = 1;
  private running = false;
  private stopping = false;
  private priority: Extract<FromGateThread, { type: 'ready' }>['priority'] = null;

  constructor(private readonly deps: GateThreadDeps) {}

  get usable(): boolean {
    return this.running;
  }

  /** Whether the thread got the real-time priority it asked for (null: none asked for, or not started). */
  get realtime(): boolean | null {
    return this.priority === null ? null : this.priority.ok;
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.worker) return;
    const { output } = this.deps;
    const target = output.offThread?.();
    if (target === undefined) {
      throw new LinesideError('LS_GPIO_UNAVAILABLE', `gpio output "${output.name}": this driver cannot switch it from the gate thread (use gate.timer: loop)`);
    }
    const control = new SharedArrayBuffer(INT32_CELLS * 4 + F64_CELLS * 8);
    this.cells = new Int32Array(control, 0, INT32_CELLS);
    this.f64 = new Float64Array(control, INT32_CELLS * 4);
    const rtPriority = this.deps.rtPriority ?? 0;
    const init: GateThreadInit = { control, target, spinMs: this.deps.spinMs, loopMonotonicMinusPerfMs: monotonicMinusPerfMs(), rtPriority };
    const worker = startWorker(this.deps.workerUrl ?? siblingModule(import.meta.url, 'gate-thread-worker'), { workerData: init, name: 'lineside-gate' });
    this.worker = worker;
    this.stopping = false;
    const ready = await new Promise<Extract<FromGateThread, { type: 'ready' }>>((resolve, reject) => {
      const fail = (message: string): void => {
        cleanup();
        void worker.terminate();
        this.worker = undefined;
        reject(new LinesideError('LS_GPIO_UNAVAILABLE', `gpio output "${output.name}": the gate thread did not start: ${message}`));
      };
      const onMessage = (message: FromGateThread): void => {
        if (message.type === 'ready') {
          cleanup();
          resolve(message);
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
    this.running = true;
    worker.on('message', (message: FromGateThread) => this.onMessage(message));
    worker.on('error', (err) => this.onDeath(`failed: ${err.message}`));
    worker.on('exit', (code) => this.onDeath(`exited with code ${code}`));
    const fields = { output: output.name, spinMs: this.deps.spinMs, rtPriority };
    if (ready.priority === null) this.deps.logger.info(fields, 'gate thread started: reject edges are timed off the event loop, at normal priority');
    else if (ready.priority.ok) this.deps.logger.info(fields, `gate thread started: reject edges are timed off the event loop, SCHED_FIFO ${rtPriority}`);
    else {
      this.deps.logger.warn(
        { ...fields, reason: ready.priority.reason },
        `gate thread started at normal priority: SCHED_FIFO ${rtPriority} refused (${ready.priority.reason}); the gate may be late while the CPU is busy. Grant LimitRTPRIO=${rtPriority} (systemd/lineside.service does) or set gate.rt_priority: 0`,
      );
    }
    this.priority = ready.priority;
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker || !this.cells) return;
    this.stopping = true;
    this.running = false;
    this.withdraw();
    Atomics.store(this.cells, CELL.stop, 1);
    this.ring();
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    const timer = setTimeout(() => void worker.terminate(), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
    this.worker = undefined;
  }

  plan(active: boolean, dueMs: number, onSwitched: (result: SwitchResult | null) => void): PlannedSwitch {
    const { cells, f64 } = this;
    if (!this.running || !cells || !f64) throw new LinesideError('LS_INTERNAL', 'gate thread: plan() while not running');
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
        return { error: new LinesideError('LS_GPIO_WRITE', `gpio output "${this.deps.output.name}": the gate thread did not finish a switch within ${FINISH_TIMEOUT_MS} ms`) };
      }
    }
    return this.result(plan);
  }

  private result(plan: Plan): SwitchResult {
    const cells = this.cells!;
    if (Atomics.load(cells, CELL.ok) !== 1) {
      return { error: new LinesideError('LS_GPIO_WRITE', `gpio output "${this.deps.output.name}": the gate thread's write failed`) };
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
      plan.onSwitched({ error: new LinesideError('LS_GPIO_WRITE', `gpio output "${this.deps.output.name}": ${message.message}`) });
    }
  }

  private onDeath(why: string): void {
    if (!this.worker) return;
    const wasRunning = this.running;
    this.running = false;
    if (this.stopping || !wasRunning) return;
    this.worker = undefined;
    this.deps.logger.error(
      { code: 'LS_GPIO_UNAVAILABLE', output: this.deps.output.name },
      `gate thread ${why}: reject edges are timed on the event loop from now on (less precise under load)`,
    );
    const plan = this.plan_;
    if (!plan || plan.settled) return;
    const cells = this.cells!;
    plan.settled = true;
    this.plan_ = undefined;
    plan.onSwitched(Atomics.load(cells, CELL.doneTicket) === plan.ticket ? this.result(plan) : null);
  }
}
