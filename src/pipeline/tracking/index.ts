import type { TrackingConfig } from '../../config/sections/line.js';
import type { EdgeInput } from '../../domain/ports.js';
import { LinesideError } from '../../errors.js';
import type { Clock } from '../clock.js';
import type { Scheduler } from '../scheduler.js';
import { EncoderTracker } from './encoder.js';
import { TimeTracker } from './time.js';
import type { Tracker, TrackerHost } from './tracker.js';

export type { Tracker, TrackerHost } from './tracker.js';

export interface TrackerDeps {
  config: TrackingConfig;
  /** Required when config.mode is 'encoder'. */
  encoder: EdgeInput | undefined;
  leadMs: number;
  clock: Clock;
  coarse: Scheduler;
  host: TrackerHost;
}

/** The tracker for tracking.mode. Throws LS_CONFIG_INVALID for encoder mode without an encoder input. */
export function createTracker(deps: TrackerDeps): Tracker {
  const { config, encoder, leadMs, clock, coarse, host } = deps;
  if (config.mode === 'time') return new TimeTracker({ config, leadMs, coarse, host });
  if (encoder === undefined)
    throw new LinesideError('LS_CONFIG_INVALID', 'tracking.mode: encoder needs an encoder input');
  return new EncoderTracker({ config, encoder, leadMs, clock, coarse, host });
}
