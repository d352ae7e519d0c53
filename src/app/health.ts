import type { FailsafeReason, PartRecord } from '../domain/part.js';

/** Fail-safe reasons that mean a component (camera, model, encoder) is broken, not the part. */
const COMPONENT_FAILURES: ReadonlySet<FailsafeReason> = new Set([
  'camera_timeout',
  'camera_error',
  'inference_error',
  'model_not_ready',
  'encoder_stalled',
]);
/** Consecutive parts failed by a broken component before the line reports itself unhealthy. */
export const UNHEALTHY_AFTER_FAILURES = 5;

/**
 * Whether the camera and the model still work, judged from the parts they fail. Parts still flow when one is
 * broken (each rejected fail-safe); that is not progress, so the line stops its heartbeat and the watchdog its
 * pings, and systemd restarts the daemon, which reopens them. One part with a verdict proves them working again.
 */
export class ComponentHealth {
  private consecutiveFailures = 0;

  record(part: PartRecord): void {
    if (part.failsafeReason !== undefined && COMPONENT_FAILURES.has(part.failsafeReason)) this.consecutiveFailures += 1;
    else if (part.verdict !== undefined) this.consecutiveFailures = 0;
  }

  get failures(): number {
    return this.consecutiveFailures;
  }

  healthy(): boolean {
    return this.consecutiveFailures < UNHEALTHY_AFTER_FAILURES;
  }
}

/** What "healthy" means for the daemon as a whole. */
export interface HealthCheck {
  healthy(): boolean;
}

/**
 * The one health verdict of the daemon: the line is running and making progress, which includes the component
 * health above, a writable gate and a turning encoder (InspectionLine.progress). The systemd watchdog reads it,
 * and anything else that reports health (an HTTP /healthz) must read this same check, so they never disagree.
 */
export function lineHealth(line: () => { progress(): boolean } | undefined): HealthCheck {
  return { healthy: () => line()?.progress() ?? false };
}
