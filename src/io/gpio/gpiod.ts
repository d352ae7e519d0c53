import type { Logger } from 'pino';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { GpiodGpioConfig } from '../../config/sections/gpio.js';
import { LinesideError } from '../../errors.js';
import {
  EdgeInputBase,
  ErrorListeners,
  OpenLines,
  describeCause,
  driverNotStarted,
  electricalLevel,
  monotonicMinusPerfMs,
  outputNotStarted,
} from './line-core.js';
import type { DigitalOutput, EdgeInput } from '../../domain/ports.js';
import type { GpioDriver, LineConfig } from './types.js';

/** What gpiomon prints per event: edge (1 rising, 0 falling), offset, seconds, nanoseconds. */
export const GPIOMON_FORMAT = '%e %o %s %n';

export interface GpiomonEvent {
  /** Electrical edge as the kernel reported it (lineside never passes --active-low). */
  rising: boolean;
  offset: number;
  sec: number;
  nsec: number;
}

export function parseGpiomonLine(text: string): GpiomonEvent | null {
  const match = /^\s*([01]) (\d+) (\d+) (\d+)\s*$/.exec(text);
  if (!match) return null;
  const [, edge, offset, sec, nsec] = match;
  return { rising: edge === '1', offset: Number(offset), sec: Number(sec), nsec: Number(nsec) };
}

/** Converts kernel event timestamps to the performance.now() base of this process. */
export interface KernelClock {
  toPerfMs(sec: number, nsec: number): number;
}

/** Any kernel timestamp later than 2001-09-09 is wall-clock time; CLOCK_MONOTONIC is time since boot. */
const REALTIME_THRESHOLD_MS = 1e12;

/**
 * Linux 5.7+ stamps GPIO events with CLOCK_MONOTONIC (ktime_get_ns); older kernels used CLOCK_REALTIME.
 * process.hrtime is CLOCK_MONOTONIC on Linux, so one offset (monotonicMinusPerfMs) converts exactly.
 */
export function createKernelClock(): KernelClock {
  const offsetMs = monotonicMinusPerfMs();
  return {
    toPerfMs(sec: number, nsec: number): number {
      const kernelMs = sec * 1000 + nsec / 1e6;
      if (kernelMs > REALTIME_THRESHOLD_MS) return kernelMs - (Date.now() - performance.now());
      return kernelMs - offsetMs;
    },
  };
}

export interface GpiodGpioDeps {
  config: GpiodGpioConfig;
  logger: Logger;
}

const STDERR_KEEP_CHARS = 2000;
const KILL_GRACE_MS = 1000;

interface Spawned {
  child: ChildProcess;
  stderr: () => string;
}

function tail(text: string): string {
  return text.trim().slice(-300) || '(no stderr)';
}

/** Spawn a tool and resolve once exec succeeded (the 'spawn' event); rejects if exec fails (ENOENT, EACCES). */
function spawnTool(command: string, args: string[], stdin: 'pipe' | 'ignore', stdout: 'pipe' | 'ignore'): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [stdin, stdout, 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEEP_CHARS);
    });
    const onError = (err: Error): void => reject(err);
    child.once('error', onError);
    child.once('spawn', () => {
      child.off('error', onError);
      // A later 'error' (failed kill) must not become an uncaught exception.
      child.on('error', () => undefined);
      resolve({ child, stderr: () => stderr });
    });
  });
}

/** Wait `ms` for the child to die; resolves with its exit if it did, null if it is still running. */
function exitWithin(child: ChildProcess, ms: number, signal?: AbortSignal): Promise<{ code: number | null; signal: string | null } | null> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  if (signal?.aborted) return Promise.resolve(null);
  return new Promise((resolve) => {
    const done = (result: { code: number | null; signal: string | null } | null): void => {
      clearTimeout(timer);
      child.off('exit', onExit);
      signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const onExit = (code: number | null, sig: NodeJS.Signals | null): void => done({ code, signal: sig });
    const onAbort = (): void => done(null);
    const timer = setTimeout(() => done(null), ms);
    child.once('exit', onExit);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * End a child: close its stdin (the gpioset supervisor drives the safe level and exits on EOF) or send SIGTERM;
 * escalate to SIGTERM, then SIGKILL, if it does not exit within a grace period.
 */
async function endChild(child: ChildProcess, how: 'stdin' | 'sigterm'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  if (how === 'stdin' && child.stdin) {
    child.stdin.end();
    if ((await exitWithin(child, 2 * KILL_GRACE_MS)) !== null) return;
  }
  child.kill('SIGTERM');
  if ((await exitWithin(child, KILL_GRACE_MS)) === null) {
    child.kill('SIGKILL');
    await exitWithin(child, KILL_GRACE_MS);
  }
}

function describeExit(code: number | null, signal: string | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}

/** gpiomon holds the line, so read() is the level after the last reported edge (EdgeInputBase's). */
class GpiodInput extends EdgeInputBase {
  private readonly driver: GpiodGpio;
  private running: Spawned | null = null;
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(deps: { name: string; line: LineConfig; logger: Logger; driver: GpiodGpio }) {
    super(deps);
    this.driver = deps.driver;
  }

  protected async open(signal: AbortSignal): Promise<void> {
    this.driver.requireStarted(this.deps.name);
    await this.launch(signal);
  }

  protected async close(): Promise<void> {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const running = this.running;
    this.running = null;
    if (running) await endChild(running.child, 'sigterm');
  }

  /**
   * The edge asked of the kernel is the ELECTRICAL one and active_low is applied here, because kernels before
   * 5.x did not swap edges for active-low event requests. A single-edge request is also exact for short encoder
   * pulses, where a both-edge request makes the kernel guess the edge from a level read after the interrupt.
   */
  private args(): string[] {
    const { config } = this.driver;
    const { line } = this.deps;
    const wanted = line.edge ?? 'both';
    const flags: string[] = [];
    if (wanted !== 'both') flags.push((wanted === 'rising') !== line.active_low ? '--rising-edge' : '--falling-edge');
    // Without --line-buffered gpiomon's stdout is block-buffered into our pipe and events arrive kilobytes late.
    return ['--line-buffered', `--format=${GPIOMON_FORMAT}`, ...flags, config.chip, String(line.line)];
  }

  private async launch(signal?: AbortSignal): Promise<void> {
    const { driver } = this;
    const { name, line } = this.deps;
    const label = `gpio input "${name}" (${driver.config.chip} line ${line.line})`;
    let spawned: Spawned;
    try {
      spawned = await spawnTool(driver.config.gpiomon, this.args(), 'ignore', 'pipe');
    } catch (cause) {
      throw new LinesideError('LS_GPIO_UNAVAILABLE', `${label}: cannot run ${driver.config.gpiomon} (${describeCause(cause)})`, { cause });
    }
    const { child } = spawned;
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (text) => this.onLine(text));
    const early = await exitWithin(child, driver.config.start_check_ms, signal);
    if (early) {
      throw new LinesideError('LS_GPIO_UNAVAILABLE', `${label}: gpiomon ${describeExit(early.code, early.signal)}: ${tail(spawned.stderr())}`);
    }
    if (!this.started || signal?.aborted) {
      await endChild(child, 'sigterm');
      return;
    }
    this.running = spawned;
    child.once('exit', (code, sig) => {
      if (this.running !== spawned) return;
      this.running = null;
      if (!this.started) return;
      driver.reportError(
        new LinesideError(
          'LS_GPIO_UNAVAILABLE',
          `${label}: gpiomon ${describeExit(code, sig)}: ${tail(spawned.stderr())}; edges are missed until it restarts in ${driver.config.restart_delay_ms} ms`,
        ),
      );
      this.scheduleRestart();
    });
  }

  private scheduleRestart(): void {
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.started) return;
      this.launch().then(
        () => this.deps.logger.warn({ input: this.deps.name }, 'gpiomon restarted'),
        (err: unknown) => {
          this.driver.reportError(err instanceof LinesideError ? err : new LinesideError('LS_GPIO_UNAVAILABLE', describeCause(err), { cause: err }));
          if (this.started) this.scheduleRestart();
        },
      );
    }, this.driver.config.restart_delay_ms);
  }

  private onLine(text: string): void {
    const event = parseGpiomonLine(text);
    if (!event) {
      this.deps.logger.warn({ input: this.deps.name, text: text.slice(0, 200) }, 'unparsable gpiomon output');
      return;
    }
    const logicalRising = event.rising !== this.deps.line.active_low;
    this.edges.push(logicalRising ? 'rising' : 'falling', this.driver.clock.toPerfMs(event.sec, event.nsec));
  }
}

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
class GpiodOutput implements DigitalOutput {
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

  constructor(private readonly deps: { name: string; line: LineConfig; logger: Logger; driver: GpiodGpio }) {}

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
  private async until(event: Promise<void>, child: ChildProcess, timeoutMs: number, signal: AbortSignal): Promise<void> {
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
      spawned = await spawnTool(SUPERVISOR_SHELL, [...args, String(this.level(false)), String(this.level(this.desired))], 'pipe', 'pipe');
    } catch (cause) {
      throw new LinesideError('LS_GPIO_UNAVAILABLE', `${this.label}: cannot run ${SUPERVISOR_SHELL} (${describeCause(cause)})`, { cause });
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
        this.deps.logger.debug({ output: this.deps.name, level: this.heldLevel, switchMs: this.lastSwitchMs }, 'gpioset switched');
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
      );
      this.scheduleRetry(() => this.pump());
    } else {
      this.deps.logger.warn({ output: this.deps.name, text: text.slice(0, 200) }, 'unexpected gpioset supervisor output');
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
    );
    this.scheduleRetry(() => this.relaunch());
  }

  private relaunch(): void {
    this.launch().then(
      () => this.deps.logger.warn({ output: this.deps.name }, 'gpioset supervisor restarted'),
      (err: unknown) => {
        this.deps.driver.reportError(err instanceof LinesideError ? err : new LinesideError('LS_GPIO_UNAVAILABLE', describeCause(err), { cause: err }));
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

const execFileAsync = promisify(execFile);

async function toolVersion(path: string): Promise<string> {
  const { stdout } = await execFileAsync(path, ['--version'], { timeout: 5000 });
  return stdout;
}

/** Character-device GPIO through the libgpiod 1.6 command-line tools, with kernel event timestamps. */
export class GpiodGpio implements GpioDriver {
  readonly type = 'gpiod' as const;
  private kernelClock: KernelClock | null = null;
  private readonly lines = new OpenLines<GpiodInput, GpiodOutput>();
  private readonly errors: ErrorListeners;

  constructor(private readonly deps: GpiodGpioDeps) {
    this.errors = new ErrorListeners({ logger: deps.logger });
  }

  get config(): GpiodGpioConfig {
    return this.deps.config;
  }

  get clock(): KernelClock {
    if (!this.kernelClock) throw driverNotStarted('gpiod', '(any)');
    return this.kernelClock;
  }

  async start(_signal: AbortSignal): Promise<void> {
    for (const tool of [this.deps.config.gpiomon, this.deps.config.gpioset]) {
      let version: string;
      try {
        version = await toolVersion(tool);
      } catch (cause) {
        throw new LinesideError('LS_GPIO_UNAVAILABLE', `cannot run ${tool} --version (${describeCause(cause)}); install the gpiod package (libgpiod 1.6 tools)`, { cause });
      }
      const match = /v(\d+)\.(\d+)/.exec(version);
      if (!match || match[1] !== '1') {
        throw new LinesideError(
          'LS_GPIO_UNAVAILABLE',
          `${tool} reports "${version.split('\n')[0] ?? ''}": lineside drives the libgpiod 1.x command-line syntax (1.6 tested); libgpiod 2.x tools are not supported yet`,
        );
      }
    }
    this.kernelClock = createKernelClock();
  }

  async stop(): Promise<void> {
    await this.lines.stopAll();
    this.kernelClock = null;
  }

  input(name: string, line: LineConfig): EdgeInput {
    return this.lines.addInput(name, () => new GpiodInput({ name, line, logger: this.deps.logger, driver: this }));
  }

  output(name: string, line: LineConfig): DigitalOutput {
    return this.lines.addOutput(name, () => new GpiodOutput({ name, line, logger: this.deps.logger, driver: this }));
  }

  onError(listener: (err: LinesideError) => void): () => void {
    return this.errors.on(listener);
  }

  requireStarted(name: string): void {
    if (!this.kernelClock) throw driverNotStarted('gpiod', name);
  }

  reportError(err: LinesideError): void {
    this.errors.emit(err);
  }
}

export function createGpiodGpio(deps: GpiodGpioDeps): GpioDriver {
  return new GpiodGpio(deps);
}
