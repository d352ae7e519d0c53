import type { Logger } from 'pino';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { LinesideError } from '../../errors.js';
import { describeCause, electricalLevel, outputNotStarted } from './line-core.js';
import {
  describeExit,
  endChild,
  exitWithin,
  spawnTool,
  tail,
  type GpiodLineHost,
  type Spawned,
} from './gpiod-tools.js';
import type { DigitalOutput } from '../../domain/ports.js';
import type { LineConfig } from './types.js';

/**
 * The per-output holder supervisor (protocol in the script's header), run by bash: dash's `wait` can miss a
 * trapped signal that arrives just before it, which hangs a release. It is found from the package root, so one
 * path serves src/ under tsx and dist/ after `npm run build` (tsc copies no .sh files): both put this module
 * three folders down, in io/gpio/, and the package ships src/ (tests/unit/io/gpio/gpiod-supervisor.test.ts).
 */
export function supervisorScript(moduleUrl: string | URL = import.meta.url): string {
  return fileURLToPath(new URL('../../../src/io/gpio/gpiod-supervisor.sh', moduleUrl));
}

const SUPERVISOR_SHELL = '/bin/bash';
const FIRST_HOLDER_TIMEOUT_MS = 5000;

/**
 * libgpiod 1.6 gpioset holds a line only while it runs and cannot change the value of a running request, so
 * every level change ends the holder and starts a new one. Node's spawn() forks the whole daemon synchronously
 * (measured: 8 ms at 50 MB RSS, 68 ms at 470 MB), which would stall the event loop at every gate pulse; a small
 * bash supervisor per output, spawned once at start, does the process churn instead, and a write is one line
 * into its stdin.
 */
export class GpiodOutput implements DigitalOutput {
  private desired = false;
  private supervisor: Spawned | null = null;
  /** Electrical level of the running holder as last reported (`held`), null when none is known to run. */
  private heldLevel: 0 | 1 | null = null;
  private heldSinceMs = 0;
  private awaitingHeld = false;
  private diedDuringStart: string | null = null;
  private onFirstHeld: (() => void) | null = null;
  private started = false;
  private stopping = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private writeRequestedAtMs: number | null = null;
  /** Milliseconds from the last write() to its holder being started (measurement for docs/bench). */
  lastSwitchMs: number | null = null;

  constructor(private readonly deps: { name: string; line: LineConfig; logger: Logger; driver: GpiodLineHost }) {}

  get name(): string {
    return this.deps.name;
  }

  get active(): boolean {
    return this.desired;
  }

  private get label(): string {
    return `gpio output "${this.deps.name}" (${this.deps.driver.config.chip} line ${this.deps.line.line})`;
  }

  private level(active: boolean): 0 | 1 {
    return electricalLevel(active, this.deps.line) ? 1 : 0;
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.started) return;
    this.deps.driver.requireStarted(this.deps.name);
    this.stopping = false;
    this.desired = false;
    this.diedDuringStart = null;
    const firstHeld = new Promise<void>((resolve) => {
      this.onFirstHeld = resolve;
    });
    const spawned = await this.launch();
    // bash may take a while to start on a loaded box; the survival check starts once the first holder runs.
    await this.until(firstHeld, spawned.child, FIRST_HOLDER_TIMEOUT_MS, signal);
    this.onFirstHeld = null;
    const early = await exitWithin(spawned.child, this.deps.driver.config.start_check_ms, signal);
    const failure = early ? `supervisor ${describeExit(early.code, early.signal)}` : this.diedDuringStart;
    if (failure !== null || this.heldLevel === null) {
      this.stopping = true;
      await endChild(spawned.child, 'stdin');
      this.supervisor = null;
      throw new LinesideError(
        'LS_GPIO_UNAVAILABLE',
        `${this.label}: gpioset could not hold the line (${failure ?? 'no holder started'}): ${tail(spawned.stderr())}`,
      );
    }
    this.started = true;
  }

  /** Wait for `event`, the child's exit, an abort or the timeout, whichever comes first, leaving no timer behind. */
  private async until(
    event: Promise<void>,
    child: ChildProcess,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<void> {
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.race([event, exitWithin(child, timeoutMs, controller.signal)]);
    } finally {
      controller.abort();
      signal.removeEventListener('abort', onAbort);
    }
  }

  write(active: boolean): void {
    if (!this.started) throw outputNotStarted(this.deps.name);
    this.desired = active;
    this.writeRequestedAtMs ??= performance.now();
    this.pump();
  }

  /**
   * SIGTERM (sent synchronously) makes the supervisor end the holder and drive the safe level with
   * `gpioset --mode=exit`, whatever level is queued or in flight; stopping=true keeps it from being restarted.
   */
  forceSafe(): void {
    this.desired = false;
    this.stopping = true;
    this.supervisor?.child.kill('SIGTERM');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.desired = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const supervisor = this.supervisor;
    this.supervisor = null;
    this.started = false;
    this.heldLevel = null;
    // EOF makes the supervisor end the holder and drive the safe level before it exits.
    if (supervisor) await endChild(supervisor.child, 'stdin');
  }

  private async launch(): Promise<Spawned> {
    const { driver, line } = this.deps;
    const args = [supervisorScript(), driver.config.gpioset, driver.config.chip, String(line.line)];
    let spawned: Spawned;
    try {
      spawned = await spawnTool(
        SUPERVISOR_SHELL,
        [...args, String(this.level(false)), String(this.level(this.desired))],
        'pipe',
        'pipe',
      );
    } catch (cause) {
      throw new LinesideError(
        'LS_GPIO_UNAVAILABLE',
        `${this.label}: cannot run ${SUPERVISOR_SHELL} (${describeCause(cause)})`,
        { cause },
      );
    }
    this.supervisor = spawned;
    this.heldLevel = null;
    this.awaitingHeld = true;
    // An EPIPE on stdin (the supervisor died first) is reported through 'exit', not as a stream error.
    spawned.child.stdin?.on('error', () => undefined);
    createInterface({ input: spawned.child.stdout! }).on('line', (text) => this.onLine(spawned, text));
    spawned.child.once('exit', (code, sig) => this.onSupervisorExit(spawned, code, sig));
    return spawned;
  }

  /** Send the desired level when nothing is in flight and it differs from what is held. */
  private pump(): void {
    const supervisor = this.supervisor;
    if (!supervisor || this.awaitingHeld || this.stopping) return;
    const wanted = this.level(this.desired);
    if (this.heldLevel === wanted) {
      this.writeRequestedAtMs = null;
      return;
    }
    this.awaitingHeld = true;
    supervisor.child.stdin?.write(`${wanted}\n`);
  }

  private onLine(spawned: Spawned, text: string): void {
    if (spawned !== this.supervisor) return;
    const [kind, level, detail] = text.split(' ');
    if (kind === 'held' && (level === '0' || level === '1')) {
      this.heldLevel = level === '1' ? 1 : 0;
      this.heldSinceMs = performance.now();
      this.awaitingHeld = false;
      this.onFirstHeld?.();
      if (this.writeRequestedAtMs !== null && this.heldLevel === this.level(this.desired)) {
        this.lastSwitchMs = this.heldSinceMs - this.writeRequestedAtMs;
        this.writeRequestedAtMs = null;
        this.deps.logger.debug(
          { output: this.deps.name, level: this.heldLevel, switchMs: this.lastSwitchMs },
          'gpioset switched',
        );
      }
      this.pump();
    } else if (kind === 'died' && (level === '0' || level === '1')) {
      if (this.heldLevel !== Number(level)) return;
      this.heldLevel = null;
      const status = `gpioset exit status ${detail ?? '?'}`;
      if (!this.started) {
        this.diedDuringStart = status;
        return;
      }
      if (this.stopping) return;
      // Dying right after its start means the request failed and the level never changed; later it means the
      // line has been let go while we thought it held.
      const fresh = performance.now() - this.heldSinceMs < this.deps.driver.config.start_check_ms;
      this.deps.driver.reportError(
        new LinesideError(
          fresh ? 'LS_GPIO_WRITE' : 'LS_GPIO_UNAVAILABLE',
          `${this.label}: ${status} ${fresh ? `before driving it to ${level}` : 'while holding it'}: ${tail(spawned.stderr())}; retrying in ${
            this.deps.driver.config.restart_delay_ms
          } ms`,
        ),
        this.deps.name,
      );
      this.scheduleRetry(() => this.pump());
    } else {
      this.deps.logger.warn(
        { output: this.deps.name, text: text.slice(0, 200) },
        'unexpected gpioset supervisor output',
      );
    }
  }

  private onSupervisorExit(spawned: Spawned, code: number | null, signal: string | null): void {
    if (spawned !== this.supervisor) return;
    this.supervisor = null;
    this.heldLevel = null;
    if (this.stopping || !this.started) return;
    this.deps.driver.reportError(
      new LinesideError(
        'LS_GPIO_UNAVAILABLE',
        `${this.label}: gpioset supervisor ${describeExit(code, signal)}: ${tail(spawned.stderr())}; the line is not held, restarting in ${
          this.deps.driver.config.restart_delay_ms
        } ms`,
      ),
      this.deps.name,
    );
    this.scheduleRetry(() => this.relaunch());
  }

  private relaunch(): void {
    this.launch().then(
      () => this.deps.logger.warn({ output: this.deps.name }, 'gpioset supervisor restarted'),
      (err: unknown) => {
        this.deps.driver.reportError(
          err instanceof LinesideError
            ? err
            : new LinesideError('LS_GPIO_UNAVAILABLE', describeCause(err), { cause: err }),
          this.deps.name,
        );
        this.scheduleRetry(() => this.relaunch());
      },
    );
  }

  private scheduleRetry(action: () => void): void {
    if (this.retryTimer || this.stopping) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopping && this.started) action();
    }, this.deps.driver.config.restart_delay_ms);
  }
}
