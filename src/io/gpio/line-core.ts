import type { Logger } from 'pino';
import { LinesideError, errorMessage } from '../../errors.js';
import type { Edge, EdgeEvent, EdgeInput } from '../../domain/ports.js';
import type { LineConfig } from './types.js';

/**
 * The input semantics every driver shares, so that sim, onoff and gpiod agree to the millisecond:
 * drivers hand in LOGICAL edges (after active_low) with their timestamps; this applies the edge filter
 * and the debounce and calls the listeners. Debounce is leading-edge: the first edge is reported at once
 * with its own timestamp and later edges closer than debounce_ms to it are dropped, so debouncing never
 * delays a trigger (a trailing debounce would add debounce_ms to every part's timing).
 */
export class InputEdges {
  private readonly listeners = new Set<(event: EdgeEvent) => void>();
  private lastAcceptedMs: number | null = null;
  /** Logical level after the last edge seen (accepted or not). */
  level = false;

  constructor(private readonly deps: { name: string; line: LineConfig; logger: Logger }) {}

  on(listener: (event: EdgeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Feed one logical edge. Returns true when it passed the filter and the debounce and was delivered. */
  push(edge: Edge, timeMs: number): boolean {
    this.level = edge === 'rising';
    const wanted = this.deps.line.edge ?? 'both';
    if (wanted !== 'both' && wanted !== edge) return false;
    const debounceMs = this.deps.line.debounce_ms ?? 0;
    if (this.lastAcceptedMs !== null) {
      const sinceMs = timeMs - this.lastAcceptedMs;
      // A negative gap only happens when a clock stepped (pre-5.7 kernels stamp gpiod events with
      // CLOCK_REALTIME); accepting it re-anchors the debounce instead of muting the input until time catches up.
      if (sinceMs >= 0 && sinceMs < debounceMs) return false;
    }
    this.lastAcceptedMs = timeMs;
    const event: EdgeEvent = { edge, timeMs };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        // One faulty consumer must not stop the others from seeing the edge (the gate tracker may be next).
        this.deps.logger.error({ err, input: this.deps.name }, 'edge listener threw');
      }
    }
    return true;
  }

  /** Forget the debounce anchor (a restarted input starts fresh). */
  reset(): void {
    this.lastAcceptedMs = null;
  }
}

/**
 * What every driver's input shares: the name, the listeners with the edge filter and debounce (InputEdges), the
 * level after the last edge, and start/stop bookkeeping. A driver's input class supplies only `open` (claim the
 * line and feed its logical edges to `edges.push`) and `close` (release it), and overrides `read` where the
 * hardware can be read directly.
 *
 * `started` is true from the moment `start` is called until `stop` (or a failed `open`), so a stop that arrives
 * while `open` is still waiting is seen by it (`if (!this.started)`) and nothing is left running.
 */
export abstract class EdgeInputBase implements EdgeInput {
  /** Fed by the driver: `edges.push` for each logical edge; `edges.level` where the driver learns the level otherwise. */
  readonly edges: InputEdges;
  #started = false;

  constructor(protected readonly deps: { name: string; line: LineConfig; logger: Logger }) {
    this.edges = new InputEdges({ name: deps.name, line: deps.line, logger: deps.logger });
  }

  get name(): string {
    return this.deps.name;
  }

  get started(): boolean {
    return this.#started;
  }

  onEdge(listener: (event: EdgeEvent) => void): () => void {
    return this.edges.on(listener);
  }

  /** Level after the last edge; drivers that can read the line override this. */
  read(): boolean {
    return this.edges.level;
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.edges.reset();
    try {
      await this.open(signal);
    } catch (err) {
      this.#started = false;
      await this.close();
      throw err;
    }
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    await this.close();
  }

  /** Claim the line and start feeding edges. May throw; `close` then undoes whatever it did before throwing. */
  protected abstract open(signal: AbortSignal): Promise<void>;

  /** Release the line; also called after a failed `open`, so it must cope with a half-done one. */
  protected abstract close(): Promise<void>;
}

/** Listeners for asynchronous driver failures (GpioDriver.onError). */
export class ErrorListeners {
  private readonly listeners = new Set<(err: LinesideError, line: string) => void>();

  constructor(private readonly deps: { logger: Logger }) {}

  on(listener: (err: LinesideError, line: string) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Log at error level (someone must act) and tell every listener. */
  emit(err: LinesideError, line: string): void {
    this.deps.logger.error({ err, code: err.code, line }, err.message);
    for (const listener of this.listeners) {
      try {
        listener(err, line);
      } catch (listenerErr) {
        this.deps.logger.error({ err: listenerErr }, 'gpio error listener threw');
      }
    }
  }
}

/** Electrical level for a logical one: active_low inverts. */
export function electricalLevel(active: boolean, line: LineConfig): boolean {
  return active !== line.active_low;
}

export function outputNotStarted(name: string): LinesideError {
  return new LinesideError('LS_GPIO_WRITE', `gpio output "${name}" is not started (call start() first)`);
}

export function driverNotStarted(type: string, name: string): LinesideError {
  return new LinesideError(
    'LS_GPIO_UNAVAILABLE',
    `gpio line "${name}": the ${type} driver is not started (start the driver before its lines)`,
  );
}

export function alreadyOpen(name: string): LinesideError {
  return new LinesideError('LS_GPIO_UNAVAILABLE', `gpio line "${name}" is already open on this driver`);
}

/** The lines one driver has opened, by name. A name is opened once, as an input or as an output. */
export class OpenLines<I extends { stop(): Promise<void> }, O extends { stop(): Promise<void> }> {
  readonly inputs = new Map<string, I>();
  readonly outputs = new Map<string, O>();

  addInput(name: string, make: () => I): I {
    this.claim(name);
    const input = make();
    this.inputs.set(name, input);
    return input;
  }

  addOutput(name: string, make: () => O): O {
    this.claim(name);
    const output = make();
    this.outputs.set(name, output);
    return output;
  }

  /** Outputs first: they go to their safe level before the inputs that could trigger anything stop. */
  async stopAll(): Promise<void> {
    for (const output of this.outputs.values()) await output.stop();
    for (const input of this.inputs.values()) await input.stop();
  }

  private claim(name: string): void {
    if (this.inputs.has(name) || this.outputs.has(name)) throw alreadyOpen(name);
  }
}

export function describeCause(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? `${code}: ${errorMessage(err)}` : errorMessage(err);
}

/**
 * CLOCK_MONOTONIC (process.hrtime, the same in every thread) minus this thread's performance.now(), in ms:
 * the one offset that converts kernel timestamps, or another thread's performance.now(), to this thread's.
 * The sample with the tightest bracket of performance.now() calls is kept.
 */
export function monotonicMinusPerfMs(): number {
  let bestSpanMs = Infinity;
  let offsetMs = 0;
  for (let i = 0; i < 9; i += 1) {
    const beforeMs = performance.now();
    const hrUs = process.hrtime.bigint() / 1000n;
    const afterMs = performance.now();
    if (afterMs - beforeMs < bestSpanMs) {
      bestSpanMs = afterMs - beforeMs;
      offsetMs = Number(hrUs) / 1000 - (beforeMs + afterMs) / 2;
    }
  }
  return offsetMs;
}
