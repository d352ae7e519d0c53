/**
 * The one lifecycle every long-lived part shares. Constructors only store what they are given;
 * `start` acquires resources (and may throw a LinesideError), `stop` releases them and never throws.
 */
export interface Lifecycle {
  start(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}
