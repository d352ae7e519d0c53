import type { HealthReport } from '../app/health.js';
import type { RunSummary } from '../app/summary.js';
import type { HttpConfig } from '../config/sections/http.js';
import type { PartRecord } from '../domain/part.js';
import type { CapturedImage, Inspector, ModelInfo } from '../domain/ports.js';
import type { LineRecordReader } from '../domain/record.js';
import type { MqttState } from '../io/mqtt/index.js';
import type { Logger } from '../log.js';
import type { AlarmRecord } from '../pipeline/alarms.js';

/** What the operator view reads from the running daemon and the few things it may ask of it. */
export interface OperatorDeps {
  config: HttpConfig;
  logger: Logger;
  env: Readonly<Record<string, string | undefined>>;
  lineId: string;
  runId: string;
  /** The daemon's one health report (app/health.ts), the one the watchdog reads. */
  health(): HealthReport;
  summary(): RunSummary;
  alarms(): AlarmRecord[];
  /** By occurrence id, by alarm kind, or every open alarm (target undefined). */
  acknowledge(target: string | undefined, by: string): AlarmRecord[];
  model(): ModelInfo | undefined;
  /** The loaded model, shared with the line; undefined before the inference stage ran. */
  inspector(): Inspector | undefined;
  mqtt(): MqttState | undefined;
  /** The line record (history, archived images, labels), when one is configured. */
  record: LineRecordReader | undefined;
  onPart(listener: (record: PartRecord) => void): () => void;
  /** Every image the line captured, as it is captured (the in-memory thumbnails without a line record). */
  onImage(listener: (image: CapturedImage) => void): () => void;
}
