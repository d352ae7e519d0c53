import type {
  AlarmsConfig,
  ConfirmConfig,
  GateConfig,
  HeartbeatConfig,
  PipelineConfig,
  TrackingConfig,
  TriggerConfig,
} from '../config/sections/line.js';
import type { PartRecord } from '../domain/part.js';
import type { CapturedImage, DigitalOutput, EdgeInput, ModelInfo, TimedSwitch } from '../domain/ports.js';
import type { AlarmRecord } from './alarms.js';
import type { Clock } from './clock.js';
import type { CaptureFn, InspectFn } from './inspect-part.js';
import type { Scheduler } from './scheduler.js';

/** The config sections the line reads (already parsed; see src/config/sections/line.ts). */
export interface InspectionLineConfig {
  trigger: TriggerConfig;
  gate: GateConfig;
  tracking: TrackingConfig;
  confirm?: ConfirmConfig;
  alarms: AlarmsConfig;
  heartbeat?: HeartbeatConfig;
  pipeline: PipelineConfig;
}

/**
 * Everything the line uses, injected. The line does not start or stop the ports (the app owns the GPIO
 * driver and camera lifecycles); it forces its outputs to the safe state on start and stop.
 */
export interface InspectionLineDeps {
  runId: string;
  config: InspectionLineConfig;
  /** camera.timeout_ms: capture deadline per part. */
  captureTimeoutMs: number;
  /** inference.timeout_ms: inspection deadline per part. */
  inspectTimeoutMs: number;
  capture: CaptureFn;
  inspect: InspectFn;
  /** False while the model is not loaded/warmed up: parts are rejected 'model_not_ready' without inspecting. */
  modelReady?: () => boolean;
  /** Model facts copied into each record. */
  modelInfo?: () =>
    (Pick<ModelInfo, 'version' | 'executionProvider'> & Partial<Pick<ModelInfo, 'name' | 'sha256'>>) | undefined;
  trigger: EdgeInput;
  gate: DigitalOutput;
  /** Required when tracking.mode is 'encoder'. */
  encoder?: EdgeInput;
  confirm?: EdgeInput;
  binFull?: EdgeInput;
  alarmOutput?: DigitalOutput;
  heartbeat?: DigitalOutput;
  /** Health of the injected components (inference worker alive, camera open). Default: always healthy. */
  health?: () => boolean;
  /** Default: systemClock(). */
  clock?: Clock;
  /** Scheduler for reject edges and gate moments on the event loop. Default: PreciseScheduler with gate.hold_ms. */
  gateScheduler?: Scheduler;
  /** Times reject edges off the event loop (the gate thread, gate.timer: thread); the scheduler stays the fallback. */
  gateTimer?: TimedSwitch;
}

export interface InspectionLineEvents {
  /**
   * A part is complete: decided, its gate action settled and its confirm resolved. `image` is what the camera
   * delivered (absent when the capture failed), for the line record's archive and the operator view.
   */
  part: (record: PartRecord, image: CapturedImage | undefined) => void;
  alarm: (alarm: AlarmRecord) => void;
  alarm_acknowledged: (alarms: readonly AlarmRecord[]) => void;
}
