import type { Logger } from 'pino';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { GpiodGpioConfig } from '../../config/sections/gpio.js';
import { LinesideError } from '../../errors.js';
import {
  ErrorListeners,
  InputEdges,
  alreadyOpen,
  describeCause,
  driverNotStarted,
  electricalLevel,
  outputNotStarted,
} from './line-core.js';
import type { DigitalOutput, EdgeEvent, EdgeInput, GpioDriver, LineConfig } from './types.js';

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
 * process.hrtime is CLOCK_MONOTONIC on Linux (libuv uv_hrtime) and performance.now() is the same clock
 * shifted to this process's origin, so one offset, sampled at start, converts exactly. The sample with the
 * tightest bracket of performance.now() calls is kept.
 */
export function createKernelClock(): KernelClock {
  let bestSpanMs = Infinity;
  let monotonicMinusPerfMs = 0;
  for (let i = 0; i < 9; i += 1) {
    const beforeMs = performance.now();
    const hrUs = process.hrtime.bigint() / 1000n;
    const afterMs = performance.now();
    if (afterMs - beforeMs < bestSpanMs) {
      bestSpanMs = afterMs - beforeMs;
      monotonicMinusPerfMs = Number(hrUs) / 1000 - (beforeMs + afterMs) / 2;
    }
  }
  return {
    toPerfMs(sec: number, nsec: number): number {
      const kernelMs = sec * 1000 + nsec / 1e6;
      if (kernelMs > REALTIME_THRESHOLD_MS) return kernelMs - (Date.now() - performance.now());
      return kernelMs - monotonicMinusPerfMs;
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
  spawnedAtMs: number;
  stderr: () => string;
}

function tail(text: string): string {
  return text.trim().slice(-300) || '(no stderr)';
}

/** Spawn a tool and resolve once exec succeeded (the 'spawn' event); rejects if exec fails (ENOENT, EACCES). */
function spawnTool(command: string, args: string[], stdin: 'pipe' | 'ignore'): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [stdin, stdin === 'pipe' ? 'ignore' : 'pipe', 'pipe'] });
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
      resolve({ child, spawnedAtMs: performance.now(), stderr: () => stderr });
    });
  });
}

/** Wait `ms` for the child to die; resolves with its exit if it did, null if it is still running. */
function exitWithin(child: ChildProcess, ms: number, signal?: AbortSignal): Promise<{ code: number | null; signal: string | null } | null> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
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

/** End a child: close stdin (gpioset --mode=wait exits on it) or SIGTERM, then SIGKILL after a grace. */
async function endChild(child: ChildProcess, how: 'stdin' | 'sigterm'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  if (how === 'stdin' && child.stdin) child.stdin.end();
  else child.kill('SIGTERM');
  if ((await exitWithin(child, KILL_GRACE_MS)) === null) {
    child.kill('SIGKILL');
    await exitWithin(child, KILL_GRACE_MS);
  }
}

function describeExit(code: number | null, signal: string | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}

class GpiodInput implements EdgeInput {
  private readonly edges: InputEdges;
  private running: Spawned | null = null;
  private stopping = true;
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: { name: string; line: LineConfig; logger: Logger; driver: GpiodGpio }) {
    this.edges = new InputEdges({ name: deps.name, line: deps.line, logger: deps.logger });
  }

  get name(): string {
    return this.deps.name;
  }

  onEdge(listener: (event: EdgeEvent) => void): () => void {
    return this.edges.on(listener);
  }

  /** Level after the last reported edge (gpiomon holds the line, so it cannot be read separately). */
  read(): boolean {
    return this.edges.level;
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.running) return;
    this.deps.driver.requireStarted(this.deps.name);
    this.stopping = false;
    this.edges.reset();
    await this.launch(signal);
  }

  async stop(): Promise<void> {
    this.stopping = true;
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
    const { config } = this.deps.driver;
    const { line } = this.deps;
    const wanted = line.edge ?? 'both';
    const flags: string[] = [];
    if (wanted !== 'both') flags.push((wanted === 'rising') !== line.active_low ? '--rising-edge' : '--falling-edge');
    // Without --line-buffered gpiomon's stdout is block-buffered into our pipe and events arrive kilobytes late.
    return ['--line-buffered', `--format=${GPIOMON_FORMAT}`, ...flags, config.chip, String(line.line)];
  }

  private async launch(signal?: AbortSignal): Promise<void> {
    const { driver, name, line } = this.deps;
    const label = `gpio input "${name}" (${driver.config.chip} line ${line.line})`;
    let spawned: Spawned;
    try {
      spawned = await spawnTool(driver.config.gpiomon, this.args(), 'ignore');
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
    if (this.stopping || signal?.aborted) {
      await endChild(child, 'sigterm');
      return;
    }
    this.running = spawned;
    child.once('exit', (code, sig) => {
      if (this.running !== spawned) return;
      this.running = null;
      if (this.stopping) return;
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
      if (this.stopping) return;
      this.launch().then(
        () => this.deps.logger.warn({ input: this.deps.name }, 'gpiomon restarted'),
        (err: unknown) => {
          this.deps.driver.reportError(err instanceof LinesideError ? err : new LinesideError('LS_GPIO_UNAVAILABLE', describeCause(err), { cause: err }));
          if (!this.stopping) this.scheduleRestart();
        },
      );
    }, this.deps.driver.config.restart_delay_ms);
  }

  private onLine(text: string): void {
    const event = parseGpiomonLine(text);
    if (!event) {
      this.deps.logger.warn({ input: this.deps.name, text: text.slice(0, 200) }, 'unparsable gpiomon output');
      return;
    }
    const logicalRising = event.rising !== this.deps.line.active_low;
    this.edges.push(logicalRising ? 'rising' : 'falling', this.deps.driver.clock.toPerfMs(event.sec, event.nsec));
  }
}

/**
 * libgpiod 1.6 gpioset holds a line only while it runs and cannot change the value of a running request.
 * Each level change therefore ends the holder (stdin closed: --mode=wait exits on EOF) and starts a new one
 * with the new value. --mode=wait (not --mode=signal) also means a holder can never outlive lineside: if the
 * daemon dies, even by SIGKILL, the pipe closes and the line is released instead of being held active.
 */
class GpiodOutput implements DigitalOutput {
  private desired = false;
  private holder: Spawned | null = null;
  /** Logical level the current holder drives. */
  private heldActive: boolean | null = null;
  private started = false;
  private stopping = false;
  private pumping: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private writeRequestedAtMs: number | null = null;
  /** Milliseconds from the last write() to the new gpioset being executed (measurement for docs/bench). */
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

  async start(signal: AbortSignal): Promise<void> {
    if (this.started) return;
    this.deps.driver.requireStarted(this.deps.name);
    this.stopping = false;
    this.desired = false;
    const spawned = await this.hold(false, 'LS_GPIO_UNAVAILABLE');
    const early = await exitWithin(spawned.child, this.deps.driver.config.start_check_ms, signal);
    if (early) {
      throw new LinesideError('LS_GPIO_UNAVAILABLE', `${this.label}: gpioset ${describeExit(early.code, early.signal)}: ${tail(spawned.stderr())}`);
    }
    this.started = true;
  }

  write(active: boolean): void {
    if (!this.started) throw outputNotStarted(this.deps.name);
    this.desired = active;
    this.writeRequestedAtMs ??= performance.now();
    this.kick();
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.desired = false;
    this.stopping = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.kick();
    await this.pumping;
    // The safe level is driven before release: most GPIO controllers keep the last driven level afterwards.
    const holder = this.holder;
    this.holder = null;
    this.heldActive = null;
    this.started = false;
    if (holder) await endChild(holder.child, 'stdin');
  }

  private kick(): void {
    if (this.pumping) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
    });
  }

  /** Bring the holder to the latest desired level; one change at a time, the latest request wins. */
  private async pump(): Promise<void> {
    while (this.holder === null || this.heldActive !== this.desired) {
      const target = this.desired;
      const previous = this.holder;
      this.holder = null;
      this.heldActive = null;
      if (previous) await endChild(previous.child, 'stdin');
      try {
        await this.hold(target, 'LS_GPIO_WRITE');
      } catch (err) {
        this.deps.driver.reportError(err as LinesideError);
        this.scheduleRetry();
        return;
      }
      if (this.writeRequestedAtMs !== null) {
        this.lastSwitchMs = performance.now() - this.writeRequestedAtMs;
        this.writeRequestedAtMs = null;
        this.deps.logger.debug({ output: this.deps.name, active: target, switchMs: this.lastSwitchMs }, 'gpioset switched');
      }
    }
  }

  private async hold(active: boolean, code: 'LS_GPIO_UNAVAILABLE' | 'LS_GPIO_WRITE'): Promise<Spawned> {
    const { driver, line } = this.deps;
    const value = electricalLevel(active, line) ? 1 : 0;
    let spawned: Spawned;
    try {
      spawned = await spawnTool(driver.config.gpioset, ['--mode=wait', driver.config.chip, `${line.line}=${value}`], 'pipe');
    } catch (cause) {
      throw new LinesideError(code, `${this.label}: cannot run ${driver.config.gpioset} (${describeCause(cause)})`, { cause });
    }
    // An EPIPE on the holder's stdin (it died first) is reported through 'exit', not as a stream error.
    spawned.child.stdin?.on('error', () => undefined);
    this.holder = spawned;
    this.heldActive = active;
    spawned.child.once('exit', (exitCode, sig) => this.onHolderExit(spawned, exitCode, sig));
    return spawned;
  }

  private onHolderExit(spawned: Spawned, code: number | null, signal: string | null): void {
    if (this.holder !== spawned) return;
    const wanted = this.heldActive;
    this.holder = null;
    this.heldActive = null;
    if (this.stopping || !this.started) return;
    // Dying right after its spawn means the request failed and the level never changed; later it means the
    // line has been let go while we thought it held.
    const fresh = performance.now() - spawned.spawnedAtMs < this.deps.driver.config.start_check_ms;
    this.deps.driver.reportError(
      new LinesideError(
        fresh ? 'LS_GPIO_WRITE' : 'LS_GPIO_UNAVAILABLE',
        `${this.label}: gpioset ${describeExit(code, signal)} ${fresh ? `before driving it ${wanted ? 'active' : 'inactive'}` : 'while holding it'}: ${tail(
          spawned.stderr(),
        )}; retrying in ${this.deps.driver.config.restart_delay_ms} ms`,
      ),
    );
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.stopping) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopping && this.started) this.kick();
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
  private readonly inputs = new Map<string, GpiodInput>();
  private readonly outputs = new Map<string, GpiodOutput>();
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
    for (const output of this.outputs.values()) await output.stop();
    for (const input of this.inputs.values()) await input.stop();
    this.kernelClock = null;
  }

  input(name: string, line: LineConfig): EdgeInput {
    if (this.inputs.has(name) || this.outputs.has(name)) throw alreadyOpen(name);
    const input = new GpiodInput({ name, line, logger: this.deps.logger, driver: this });
    this.inputs.set(name, input);
    return input;
  }

  output(name: string, line: LineConfig): DigitalOutput {
    if (this.inputs.has(name) || this.outputs.has(name)) throw alreadyOpen(name);
    const output = new GpiodOutput({ name, line, logger: this.deps.logger, driver: this });
    this.outputs.set(name, output);
    return output;
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
