import { errorCode, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

/** One named step of the daemon's start, with the stop that undoes it. */
export interface Stage {
  readonly name: string;
  /** May throw (a LinesideError with its code); a stage that throws cleans up after itself before it does. */
  start(signal: AbortSignal): Promise<void>;
  /** Undoes start. Should not throw; when it does, the error is logged and the other stages still stop. */
  stop(): Promise<void>;
}

/**
 * Starts stages in order and stops them in reverse. A start that fails part-way (a stage throws, the signal is
 * aborted, or stop() is called meanwhile) stops the stages already started, in reverse, before start() rejects:
 * nothing is left running behind a failed start, so the process can exit and systemd can restart it.
 */
export class StageRunner {
  private readonly started: Stage[] = [];
  private starting: Promise<void> | undefined;
  private stopRequested = false;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly stages: readonly Stage[],
    private readonly deps: { logger: Logger },
  ) {}

  /** Names of the stages running now, in start order. */
  get running(): string[] {
    return this.started.map((s) => s.name);
  }

  /**
   * Rejects with the failing stage's own error (its code intact), or with the signal's reason when aborted.
   * Once started, a second call does nothing; after stop(), start() rejects.
   */
  start(signal: AbortSignal): Promise<void> {
    this.starting ??= this.startAll(signal);
    return this.starting;
  }

  /** Stops every started stage in reverse order, waiting for a start in progress to end first. Never throws. */
  stop(): Promise<void> {
    this.stopRequested = true;
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  private async startAll(signal: AbortSignal): Promise<void> {
    for (const stage of this.stages) {
      if (this.stopRequested) throw new Error(`stopped while starting, before ${stage.name}`);
      if (signal.aborted) {
        const stopping = this.running.reverse();
        const message = `start aborted before ${stage.name}; stopping what had started`;
        if (stopping.length > 0) this.deps.logger.info({ stage: stage.name, stopping }, message);
        await this.stopStarted();
        throw signal.reason;
      }
      try {
        await stage.start(signal);
      } catch (err) {
        await this.rollBack(stage.name, err);
        throw err;
      }
      this.started.push(stage);
    }
  }

  private async rollBack(failed: string, err: unknown): Promise<void> {
    if (this.started.length === 0) return;
    const fields = { stage: failed, code: errorCode(err), err: errorMessage(err), stopping: this.running.reverse() };
    this.deps.logger.info(fields, `start failed at ${failed}; stopping what had started`);
    await this.stopStarted();
  }

  private async stopAll(): Promise<void> {
    // stop() during start: no further stage starts, and the start itself rejects (it has not stopped anything).
    await this.starting?.catch(() => undefined);
    await this.stopStarted();
  }

  private async stopStarted(): Promise<void> {
    for (const stage of this.started.splice(0).reverse()) {
      try {
        await stage.stop();
      } catch (err) {
        this.deps.logger.error(
          { code: errorCode(err), err: errorMessage(err), stage: stage.name },
          `error while stopping ${stage.name}`,
        );
      }
    }
  }
}

/**
 * Several parts as one stage (the outputs, the inputs): they start in order, and a part that fails to start
 * stops the ones before it, so the stage cleans up after itself as the runner expects.
 */
export function stageGroup(name: string, parts: () => readonly Stage[], deps: { logger: Logger }): Stage {
  let runner: StageRunner | undefined;
  return {
    name,
    start: (signal) => {
      runner = new StageRunner(parts(), deps);
      return runner.start(signal);
    },
    stop: () => runner?.stop() ?? Promise.resolve(),
  };
}
