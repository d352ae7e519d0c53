/** The part and its verdict: what every layer of lineside talks about. Pure types, no imports but errors. */
import type { ErrorCode } from '../errors.js';

export type Label = 'defective' | 'ok';

export type Verdict = 'ok' | 'defective';

/**
 * Why a part was rejected without a model verdict (or despite one). Each has its own counter.
 * late: verdict not known when the part reached the gate (minus actuator lead).
 * encoder_stalled: triggers kept coming while the encoder did not count, so the part's position is unknown.
 */
export type FailsafeReason =
  | 'late'
  | 'camera_timeout'
  | 'camera_error'
  | 'decode_error'
  | 'inference_error'
  | 'model_not_ready'
  | 'overrun'
  | 'shutdown'
  | 'encoder_stalled';

export const FAILSAFE_REASONS: readonly FailsafeReason[] = [
  'late',
  'camera_timeout',
  'camera_error',
  'decode_error',
  'inference_error',
  'model_not_ready',
  'overrun',
  'shutdown',
  'encoder_stalled',
];

/** What the gate does with a part. */
export type Decision = 'pass' | 'reject';

export interface TrackingRecord {
  mode: 'time' | 'encoder';
  /** Time mode: when the part is due at the gate (monotonic ms, same base as EdgeEvent.timeMs). */
  dueMs?: number;
  /** Encoder mode: encoder count at which the part is due at the gate. */
  dueCount?: number;
  /** The gate was driven for this part (a merged pulse counts for every part it covered). */
  fired: boolean;
  /** When the gate actually went active for this part (monotonic ms). */
  firedMs?: number;
  /** Confirm sensor result: true/false, or null when no confirm sensor is configured or the part passed. */
  confirmed: boolean | null;
  /** Encoder mode: counts before dueCount at which the gate was fired (lead_ms at the measured belt speed). */
  leadCounts?: number;
  /** How the gate action settled: the gate fired; it fired more than gate.max_lateness_ms late (the part
   * may have passed); the part went by in the pass position; the encoder stalled and the gate was held in
   * its reject position for it; the daemon stopped first and the gate was left in its safe state (what
   * that means physically: docs/tracking.md); or the write that should have opened the gate failed. */
  outcome?: 'fired' | 'fired_late' | 'passed' | 'held_reject' | 'safe_state' | 'not_fired';
  /** Gate activation minus the planned activation time (due - lead), ms; > 0 is late. */
  gateLatenessMs?: number;
}

/** One part, from trigger to completion. Created by the pipeline, completed when its gate action is settled. */
export interface PartRecord {
  /** Sequence number: consecutive within one daemon run, from 1. */
  seq: number;
  /** Globally unique id: `${runId}-${seq}`. */
  id: string;
  runId: string;
  /** Trigger time, monotonic ms. */
  triggerMs: number;
  /** Trigger time as wall-clock ISO 8601 (for SCADA). */
  triggeredAt: string;
  source?: string;
  label?: Label;
  /** Model output, when inspection completed. */
  verdict?: Verdict;
  defectScore?: number;
  threshold?: number;
  modelVersion?: string;
  /** The model's name and the sha256 of its ONNX file, so a historian knows exactly which model judged. */
  modelName?: string;
  modelSha256?: string;
  executionProvider?: string;
  decision: Decision;
  failsafeReason?: FailsafeReason;
  errorCode?: ErrorCode;
  errorMessage?: string;
  /** Per-stage wall milliseconds. */
  stagesMs: { capture?: number; queue?: number; preprocess?: number; inference?: number; transfer?: number };
  /** Trigger to verdict (or to the fail-safe decision), ms. */
  verdictLatencyMs?: number;
  tracking: TrackingRecord;
  /**
   * The archived image's reference (domain/record.ts ArchivedImage.ref), set by the line record when it keeps this
   * part's image, before the verdict is published; absent when the image was not kept.
   */
  imageRef?: string;
}
