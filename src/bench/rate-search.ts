/** (b) The highest part rate the line sustains: a ladder of short trials, bisection, then one long confirmation. */
import type { LineRun, LineRunOptions } from './line.js';

export interface RateSearchOptions {
  /** Rates tried in turn, ascending, until one fails. */
  ladder: number[];
  /** Seconds of each ladder and bisection trial. */
  trialS: number;
  /** Bisection steps between the last rate that held and the first that failed. */
  bisectSteps: number;
  /** Seconds the best rate must then hold (60 in the full run). */
  confirmS: number;
  /** Confirmations tried, each at 85% of the rate before, when the confirmation fails. */
  confirmTries: number;
}

export interface Trial {
  partsPerSecond: number;
  seconds: number;
  held: boolean;
  failsafe: Record<string, number>;
  lost: number;
  missing: number;
}

export interface RateSearch {
  /** The confirmed run: held for confirmS at its rate; undefined when nothing held. */
  sustained: LineRun | undefined;
  trials: Trial[];
}

/** Held: every part asked for completed, none fail-safe, every verdict reached the subscriber. */
export function held(run: LineRun): boolean {
  return run.parts === run.requested && Object.keys(run.failsafe).length === 0 && run.lost === 0;
}

type Runner = (options: LineRunOptions) => Promise<LineRun>;

export async function searchRate(options: RateSearchOptions, runLine: Runner): Promise<RateSearch> {
  const trials: Trial[] = [];
  const trial = async (rate: number, seconds: number): Promise<LineRun> => {
    const run = await runLine({ partsPerSecond: rate, parts: Math.max(1, Math.round(rate * seconds)) });
    const ok = held(run);
    trials.push({
      partsPerSecond: rate,
      seconds,
      held: ok,
      failsafe: run.failsafe,
      lost: run.lost,
      missing: run.requested - run.parts,
    });
    return run;
  };
  let good: number | undefined;
  let bad: number | undefined;
  for (const rate of options.ladder) {
    if (held(await trial(rate, options.trialS))) good = rate;
    else {
      bad = rate;
      break;
    }
  }
  for (let i = 0; i < options.bisectSteps && bad !== undefined; i++) {
    const mid = Math.round(((good ?? 0) + bad) / 2);
    if (mid === good || mid === bad || mid < 1) break;
    if (held(await trial(mid, options.trialS))) good = mid;
    else bad = mid;
  }
  let rate = good;
  for (let i = 0; i < options.confirmTries && rate !== undefined && rate >= 1; i++) {
    const run = await trial(rate, options.confirmS);
    if (held(run)) return { sustained: run, trials };
    rate = Math.floor(rate * 0.85);
  }
  return { sustained: undefined, trials };
}
