export { ALARM_KINDS, AlarmManager, type AlarmKind, type AlarmRecord } from './alarms.js';
export { systemClock, type Clock, type TimerHandle } from './clock.js';
export { failSafeWarnings } from './fail-safe.js';
export { GateController, type EnergisedPosition, type GateControllerDeps } from './gate-controller.js';
export { Heartbeat, type HeartbeatDeps } from './heartbeat.js';
export { LatencyHistogram } from './latency-histogram.js';
export {
  InspectionLine,
  type CaptureFn,
  type InspectFn,
  type InspectionLineConfig,
  type InspectionLineDeps,
  type InspectionLineEvents,
  type LineSummary,
  type Percentiles,
} from './inspection-line.js';
export { PreciseScheduler, TimeoutScheduler, type PreciseSchedulerDeps, type Scheduler } from './scheduler.js';
export * from '../domain/part.js';
