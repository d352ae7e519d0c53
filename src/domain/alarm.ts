/** Alarms: what went wrong on the line that someone must see and acknowledge. */
export type AlarmKind =
  | 'reject_not_confirmed'
  | 'consecutive_rejects'
  | 'reject_rate'
  | 'bin_full'
  | 'gate_write_failed'
  | 'output_write_failed'
  | 'gate_late'
  | 'encoder_stalled'
  | 'gpio_unavailable'
  | 'storage';

export const ALARM_KINDS: readonly AlarmKind[] = [
  'reject_not_confirmed',
  'consecutive_rejects',
  'reject_rate',
  'bin_full',
  'gate_write_failed',
  'output_write_failed',
  'gate_late',
  'encoder_stalled',
  'gpio_unavailable',
  'storage',
];

export interface AlarmRecord {
  /** `${runId}-A${n}`, unique within the run. */
  id: string;
  kind: AlarmKind;
  message: string;
  /** Monotonic ms when raised. */
  raisedMs: number;
  raisedAt: string;
  /** The part that tripped it, when there is one. */
  partId?: string;
  /** Further occurrences of the same kind while this alarm was unacknowledged. */
  repeats: number;
  acknowledged: boolean;
  acknowledgedAt?: string;
}
