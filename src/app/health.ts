import type { FailsafeReason, PartRecord } from '../domain/part.js';
import type { MqttState } from '../io/mqtt/index.js';
import type { AlarmRecord } from '../pipeline/alarms.js';

/** Fail-safe reasons that mean a component (camera, model, encoder) is broken, not the part. */
const COMPONENT_FAILURES: ReadonlyMap<FailsafeReason, 'camera' | 'model' | 'tracking'> = new Map([
  ['camera_timeout', 'camera'],
  ['camera_error', 'camera'],
  ['inference_error', 'model'],
  ['model_not_ready', 'model'],
  ['encoder_stalled', 'tracking'],
] as const);
/** Consecutive parts failed by a broken component before the line reports itself unhealthy. */
export const UNHEALTHY_AFTER_FAILURES = 5;

/**
 * Whether the camera and the model still work, judged from the parts they fail. Parts still flow when one is
 * broken (each rejected fail-safe); that is not progress, so the line stops its heartbeat and the watchdog its
 * pings, and systemd restarts the daemon, which reopens them. One part with a verdict proves them working again.
 */
export class ComponentHealth {
  private consecutiveFailures = 0;
  private last: { reason: FailsafeReason; message: string | undefined } | undefined;

  record(part: PartRecord): void {
    if (part.failsafeReason !== undefined && COMPONENT_FAILURES.has(part.failsafeReason)) {
      this.consecutiveFailures += 1;
      this.last = { reason: part.failsafeReason, message: part.errorMessage };
    } else if (part.verdict !== undefined) {
      this.consecutiveFailures = 0;
      this.last = undefined;
    }
  }

  get failures(): number {
    return this.consecutiveFailures;
  }

  healthy(): boolean {
    return this.consecutiveFailures < UNHEALTHY_AFTER_FAILURES;
  }

  /** The component that failed the last parts and why, while that makes the line unhealthy. */
  failing(): { component: 'camera' | 'model' | 'tracking'; reason: string } | undefined {
    if (this.healthy() || this.last === undefined) return undefined;
    const component = COMPONENT_FAILURES.get(this.last.reason) ?? 'camera';
    const why = this.last.message === undefined ? '' : `: ${this.last.message}`;
    return { component, reason: `${this.consecutiveFailures} consecutive parts failed ${this.last.reason}${why}` };
  }
}

/** The components /healthz reports on, in the order it lists them. */
export const HEALTH_COMPONENTS = [
  'line',
  'model',
  'camera',
  'gpio',
  'gate_threads',
  'broker',
  'storage',
  'disk_space',
] as const;
export type HealthComponent = (typeof HEALTH_COMPONENTS)[number];

export interface ComponentStatus {
  healthy: boolean;
  /** Why, in words an operator can act on; also given while healthy ("connected to mqtt://..."). */
  reason: string;
}

/**
 * The daemon's one health report. `progress` is what the systemd watchdog pings on (the line runs and makes
 * progress, the camera and model work, no GPIO fault); `ready` additionally needs every component healthy, so the
 * broker, storage and disk space make /healthz degraded without getting the daemon restarted. Whenever the
 * watchdog withholds its ping, /healthz is 503 with the line's reason: both read this one report.
 */
export interface HealthReport {
  ready: boolean;
  progress: boolean;
  components: Record<HealthComponent, ComponentStatus>;
}

/** Free space where the daemon keeps its state, as last measured (disk.ts). */
export interface DiskStatus {
  path: string;
  freeBytes: number;
  minFreeBytes: number;
}

/** An optional store (the line record) that says whether it can write. */
export type StorageHealth = () => { healthy: boolean; reason?: string } | undefined;

export interface HealthSources {
  line: () => { progress(): boolean; activeAlarms(): AlarmRecord[] } | undefined;
  components: ComponentHealth;
  /** Whether the model is loaded (the inference stage ran). */
  modelLoaded: () => boolean;
  cameraOpen: () => boolean;
  gpioOpen: () => boolean;
  /** The gate threads when the config asks for them and the driver allows them; undefined: not in use. */
  gateThreads: () => { usable: boolean } | undefined;
  mqtt: () => MqttState | undefined;
  storage?: StorageHealth | undefined;
  disk: () => DiskStatus | undefined;
}

/** What "healthy" means for the daemon as a whole: the watchdog reads healthy(), /healthz reads report(). */
export interface HealthCheck {
  healthy(): boolean;
  report?(): HealthReport;
}

const GPIO_ALARMS: ReadonlySet<string> = new Set(['gpio_unavailable', 'gate_write_failed', 'output_write_failed']);
const ok = (reason = 'ok'): ComponentStatus => ({ healthy: true, reason });
const bad = (reason: string): ComponentStatus => ({ healthy: false, reason });

function lineStatus(sources: HealthSources, progress: boolean): ComponentStatus {
  if (progress) return ok('running, making progress');
  if (sources.line() === undefined) return bad('not running (starting, stopped or failed to start)');
  const failing = sources.components.failing();
  if (failing) return bad(`not making progress: the ${failing.component} fails (${failing.reason})`);
  return bad('not making progress: stopped, a GPIO fault, a stalled encoder, or parts in flight not decided');
}

function partComponent(sources: HealthSources, which: 'camera' | 'model', open: boolean): ComponentStatus {
  if (!open) return bad(which === 'model' ? 'not loaded' : 'not open');
  const failing = sources.components.failing();
  return failing?.component === which ? bad(failing.reason) : ok();
}

function gpioStatus(sources: HealthSources): ComponentStatus {
  if (!sources.gpioOpen()) return bad('not open');
  const alarm = (sources.line()?.activeAlarms() ?? []).find((a) => GPIO_ALARMS.has(a.kind));
  return alarm ? bad(`${alarm.kind}: ${alarm.message} (acknowledge once fixed)`) : ok();
}

function gateThreadStatus(sources: HealthSources): ComponentStatus {
  const threads = sources.gateThreads();
  if (threads === undefined) return ok('not in use (gate.timer or the GPIO driver); the event loop times the gate');
  return threads.usable ? ok('running') : bad('stopped: reject edges are timed on the event loop');
}

function brokerStatus(mqtt: MqttState | undefined): ComponentStatus {
  if (mqtt === undefined) return bad('not started');
  const url = mqtt.brokerUrl ?? 'the broker';
  if (mqtt.connected) return ok(`connected to ${url}`);
  const why = mqtt.lastError ? `: ${mqtt.lastError.message}` : '';
  return bad(`not connected to ${url}${why}; ${mqtt.queued} verdicts queued`);
}

function storageStatus(sources: HealthSources): ComponentStatus {
  const outboxError = sources.mqtt()?.storageError ?? null;
  if (outboxError !== null) return bad(`MQTT outbox: ${outboxError}`);
  const record = sources.storage?.();
  if (record && !record.healthy) return bad(`line record: ${record.reason ?? 'cannot write'}`);
  return ok(record ? 'outbox and line record writable' : 'outbox writable');
}

function diskStatus(disk: DiskStatus | undefined): ComponentStatus {
  if (disk === undefined) return ok('not measured yet');
  const mib = (bytes: number): string => `${Math.floor(bytes / 2 ** 20)} MiB`;
  const text = `${mib(disk.freeBytes)} free at ${disk.path}`;
  return disk.freeBytes >= disk.minFreeBytes ? ok(text) : bad(`${text}, below ${mib(disk.minFreeBytes)}`);
}

/** The one health report of the daemon, built fresh from its parts on each call. */
export function healthReport(sources: HealthSources): HealthReport {
  const progress = sources.line()?.progress() ?? false;
  const components: Record<HealthComponent, ComponentStatus> = {
    line: lineStatus(sources, progress),
    model: partComponent(sources, 'model', sources.modelLoaded()),
    camera: partComponent(sources, 'camera', sources.cameraOpen()),
    gpio: gpioStatus(sources),
    gate_threads: gateThreadStatus(sources),
    broker: brokerStatus(sources.mqtt()),
    storage: storageStatus(sources),
    disk_space: diskStatus(sources.disk()),
  };
  const ready = progress && HEALTH_COMPONENTS.every((name) => components[name].healthy);
  return { ready, progress, components };
}

/**
 * The one health verdict of the daemon: the line is running and making progress, which includes the component
 * health above, a writable gate and a turning encoder (InspectionLine.progress). The systemd watchdog reads
 * healthy(), /healthz reads report(), whose `progress` is that same verdict, so they never disagree.
 */
export function lineHealth(
  line: () => { progress(): boolean } | undefined,
  report?: () => HealthReport,
): Required<HealthCheck> {
  const full = report ?? ((): HealthReport => healthReport(minimalSources(line)));
  return { healthy: () => full().progress, report: full };
}

function minimalSources(line: () => { progress(): boolean } | undefined): HealthSources {
  return {
    line: () => {
      const l = line();
      return l ? { progress: () => l.progress(), activeAlarms: () => [] } : undefined;
    },
    components: new ComponentHealth(),
    modelLoaded: () => line() !== undefined,
    cameraOpen: () => line() !== undefined,
    gpioOpen: () => line() !== undefined,
    gateThreads: () => undefined,
    mqtt: () => undefined,
    disk: () => undefined,
  };
}

/** The components that are not healthy, as `name: reason`, for a log line. */
export function unhealthyReasons(report: HealthReport): string[] {
  return HEALTH_COMPONENTS.filter((c) => !report.components[c].healthy).map(
    (c) => `${c}: ${report.components[c].reason}`,
  );
}
