import type { EdgeEvent, EdgeInput } from '../domain/ports.js';
import type { Part } from './part.js';
import type { Scheduler } from './scheduler.js';

export interface ConfirmMatcherDeps {
  /** The confirm sensor (a switch on the gate, or a photo-eye in the reject chute). */
  input: EdgeInput;
  /** confirm.window_ms: how long after the gate fired the sensor may take. */
  windowMs: number;
  coarse: Scheduler;
  /** The sensor saw the reject (true), or the window closed without it (false). The part is in 'awaiting_confirm'. */
  onResult: (part: Part, confirmed: boolean) => void;
  /** A confirm edge with no fired reject waiting for one (a part fell in by itself, or the sensor bounces). */
  onUnexpected: () => void;
}

/**
 * Matches confirm-sensor edges to fired rejects. Each edge confirms the oldest fired part still waiting for
 * one: the sensor cannot say which part it saw, and parts reach the chute in the order the gate fired for them.
 */
export class ConfirmMatcher {
  private readonly waiting: Part[] = [];
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly deps: ConfirmMatcherDeps) {}

  start(): void {
    this.unsubscribe ??= this.deps.input.onEdge((ev) => this.onEdge(ev));
  }

  /** Stops listening and forgets the parts still waiting (the line settles them as they are). */
  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.waiting.length = 0;
  }

  /** The gate fired for this part at firedMs: wait for the sensor until the window closes. */
  expect(part: Part, firedMs: number): void {
    this.waiting.push(part);
    part.addTimer(this.deps.coarse.at(firedMs + this.deps.windowMs, () => this.resolve(part, false)));
  }

  private onEdge(ev: EdgeEvent): void {
    const part = this.waiting.find((p) => (p.record.tracking.firedMs ?? Number.POSITIVE_INFINITY) <= ev.timeMs);
    if (part === undefined) this.deps.onUnexpected();
    else this.resolve(part, true);
  }

  private resolve(part: Part, confirmed: boolean): void {
    const i = this.waiting.indexOf(part);
    if (i < 0) return;
    this.waiting.splice(i, 1);
    part.record.tracking.confirmed = confirmed;
    this.deps.onResult(part, confirmed);
  }
}
