/**
 * The line record's port (issue #10): what the operator view, the CLI and the verdict payload ask of the embedded
 * database that keeps the verdict history, the image archive and operator labels. src/record implements it.
 */
import type { Decision, FailsafeReason, Label, Verdict } from './part.js';
import type { ErrorCode } from '../errors.js';

/** An operator's verdict on a part, beside the model's. The human label wins in the training export. */
export interface OperatorLabel {
  label: Label;
  by: string;
  /** Wall-clock ISO 8601. */
  at: string;
}

/** One part as the history keeps it (a row of `lineside history`). */
export interface HistoryRow {
  id: string;
  seq: number;
  runId: string;
  /** Wall-clock ISO 8601. */
  triggeredAt: string;
  decision: Decision;
  verdict?: Verdict;
  defectScore?: number;
  failsafeReason?: FailsafeReason;
  errorCode?: ErrorCode;
  /** The archived image's reference (ArchivedImage.ref), when the image was kept. */
  imageRef?: string;
  label?: OperatorLabel;
  /** Wall-clock ISO 8601 of the decision (trigger + verdict latency) and of the gate's activation, when known. */
  decidedAt?: string;
  gateAt?: string;
  threshold?: number;
  /** Trigger to verdict (or fail-safe decision), ms. */
  latencyMs?: number;
  stagesMs?: Record<string, number>;
  modelName?: string;
  modelVersion?: string;
  modelSha256?: string;
  executionProvider?: string;
  /** TrackingRecord.outcome. */
  outcome?: string;
  /** TrackingRecord.confirmed (null: no confirm sensor or not rejected). */
  confirmed?: boolean | null;
}

export interface ArchivedImage {
  /** Stable reference: the file name under the archive directory, named by part id, verdict and score. */
  ref: string;
  /** The camera's original bytes, never re-encoded. */
  data: Buffer;
  /** image/jpeg, image/png, ... from the bytes' signature. */
  contentType: string;
}

export interface HistoryQuery {
  /** Wall-clock bounds, ISO 8601, inclusive. */
  since?: string;
  until?: string;
  decision?: Decision;
  reason?: FailsafeReason;
  /** Only parts whose image is archived. */
  withImage?: boolean;
  /** Newest first, at most this many. */
  limit?: number;
}

/** What readers of the line record use. Synchronous reads are cheap indexed queries; image bytes come from disk. */
export interface LineRecordReader {
  history(query: HistoryQuery): HistoryRow[];
  /** The archived image of a part, or null when none was kept (or it aged out). */
  image(partId: string): Promise<ArchivedImage | null>;
  /** Records a human verdict; throws LinesideError LS_RECORD_UNKNOWN_PART for an id not in the history. */
  label(partId: string, label: Label, by: string): HistoryRow;
}

/** The daemon's line record as the app exposes it (App.record): the reader, and its storage health for /healthz. */
export interface LineRecordView extends LineRecordReader {
  /** Unhealthy while history or image writes fail or the free-space floor cannot be kept; `reason` says which. */
  health(): { healthy: boolean; reason: string | null };
}
