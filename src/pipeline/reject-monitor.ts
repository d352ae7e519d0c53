import type { AlarmsConfig } from '../config/sections/line.js';
import type { PartRecord } from '../domain/part.js';
import type { AlarmKind } from './alarms.js';

export interface RejectMonitorDeps {
  config: AlarmsConfig;
  raise: (kind: Extract<AlarmKind, 'consecutive_rejects' | 'reject_rate'>, message: string, partId: string) => void;
}

/** Consecutive-reject and reject-rate alarms, counted in decision order. */
export class RejectMonitor {
  private consecutive = 0;
  /** The last reject_rate_window decisions, true = reject. */
  private readonly window: boolean[] = [];
  private windowRejects = 0;

  constructor(private readonly deps: RejectMonitorDeps) {}

  note(record: PartRecord): void {
    const rejected = record.decision === 'reject';
    this.noteConsecutive(rejected, record.id);
    this.noteRate(rejected, record.id);
  }

  private noteConsecutive(rejected: boolean, partId: string): void {
    const limit = this.deps.config.consecutive_rejects;
    this.consecutive = rejected ? this.consecutive + 1 : 0;
    if (limit > 0 && rejected && this.consecutive % limit === 0) {
      this.deps.raise('consecutive_rejects', `${this.consecutive} rejects in a row`, partId);
    }
  }

  private noteRate(rejected: boolean, partId: string): void {
    const { reject_rate_window: size, reject_rate_percent: limitPercent } = this.deps.config;
    this.window.push(rejected);
    if (rejected) this.windowRejects++;
    if (this.window.length > size && this.window.shift() === true) this.windowRejects--;
    if (limitPercent <= 0 || this.window.length !== size) return;
    const percent = (this.windowRejects / size) * 100;
    if (percent > limitPercent) {
      this.deps.raise(
        'reject_rate',
        `${percent.toFixed(1)}% rejects in the last ${size} parts (limit ${limitPercent}%)`,
        partId,
      );
    }
  }
}
