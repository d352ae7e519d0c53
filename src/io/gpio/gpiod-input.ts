import type { Logger } from 'pino';
import { createInterface } from 'node:readline';
import { LinesideError } from '../../errors.js';
import { EdgeInputBase, describeCause } from './line-core.js';
import {
  describeExit,
  endChild,
  exitWithin,
  spawnTool,
  tail,
  type GpiodLineHost,
  type Spawned,
} from './gpiod-tools.js';
import type { LineConfig } from './types.js';

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

/** gpiomon holds the line, so read() is the level after the last reported edge (EdgeInputBase's). */
export class GpiodInput extends EdgeInputBase {
  private readonly driver: GpiodLineHost;
  private running: Spawned | null = null;
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(deps: { name: string; line: LineConfig; logger: Logger; driver: GpiodLineHost }) {
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
      throw new LinesideError(
        'LS_GPIO_UNAVAILABLE',
        `${label}: cannot run ${driver.config.gpiomon} (${describeCause(cause)})`,
        { cause },
      );
    }
    const { child } = spawned;
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (text) => this.onLine(text));
    const early = await exitWithin(child, driver.config.start_check_ms, signal);
    if (early) {
      throw new LinesideError(
        'LS_GPIO_UNAVAILABLE',
        `${label}: gpiomon ${describeExit(early.code, early.signal)}: ${tail(spawned.stderr())}`,
      );
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
        this.deps.name,
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
          this.driver.reportError(
            err instanceof LinesideError
              ? err
              : new LinesideError('LS_GPIO_UNAVAILABLE', describeCause(err), { cause: err }),
            this.deps.name,
          );
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
