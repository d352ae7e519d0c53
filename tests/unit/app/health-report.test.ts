import { describe, expect, it } from 'vitest';
import {
  ComponentHealth,
  UNHEALTHY_AFTER_FAILURES,
  healthReport,
  lineHealth,
  type HealthSources,
} from '../../../src/app/health.js';
import type { PartRecord } from '../../../src/domain/part.js';
import type { MqttState } from '../../../src/io/mqtt/index.js';
import type { AlarmRecord } from '../../../src/pipeline/alarms.js';

function sources(over: Partial<HealthSources> = {}): HealthSources {
  return {
    line: () => ({ progress: () => true, activeAlarms: () => [] }),
    components: new ComponentHealth(),
    modelLoaded: () => true,
    cameraOpen: () => true,
    gpioOpen: () => true,
    gateThreads: () => ({ usable: true }),
    mqtt: () => ({ connected: true, brokerUrl: 'mqtt://b:1883', storageError: null, queued: 0 }) as MqttState,
    disk: () => ({ path: '/var/lib/lineside', freeBytes: 10 * 2 ** 30, minFreeBytes: 2 ** 30 }),
    ...over,
  };
}

describe('the health report (/healthz and the watchdog)', () => {
  it('is ready when every component is healthy', () => {
    const report = healthReport(sources());
    expect(report).toMatchObject({ ready: true, progress: true });
    expect(Object.values(report.components).every((c) => c.healthy)).toBe(true);
  });

  it('a broker outage, a full disk or a failing store degrade /healthz but keep the watchdog pinging', () => {
    const down = { connected: false, brokerUrl: 'mqtt://b:1883', lastError: { message: 'ECONNREFUSED' }, queued: 7 };
    const report = healthReport(
      sources({
        mqtt: () => ({ ...down, storageError: 'EACCES: outbox' }) as unknown as MqttState,
        disk: () => ({ path: '/var', freeBytes: 2 ** 20, minFreeBytes: 2 ** 30 }),
      }),
    );
    expect(report).toMatchObject({ ready: false, progress: true });
    expect(report.components.broker).toEqual({
      healthy: false,
      reason: 'not connected to mqtt://b:1883: ECONNREFUSED; 7 verdicts queued',
    });
    expect(report.components.storage).toEqual({ healthy: false, reason: 'MQTT outbox: EACCES: outbox' });
    expect(report.components.disk_space.reason).toMatch(/^1 MiB free at \/var, below 1024 MiB$/);
    const record = healthReport(sources({ storage: () => ({ healthy: false, reason: 'disk I/O error' }) }));
    expect(record.components.storage).toEqual({ healthy: false, reason: 'line record: disk I/O error' });
  });

  it('names the camera or the model that fails the parts, and the watchdog withholds its ping then', () => {
    const components = new ComponentHealth();
    for (let i = 0; i < UNHEALTHY_AFTER_FAILURES; i++) {
      components.record({ decision: 'reject', failsafeReason: 'inference_error', errorMessage: 'boom' } as PartRecord);
    }
    const s = sources({ components, line: () => ({ progress: () => components.healthy(), activeAlarms: () => [] }) });
    const report = healthReport(s);
    expect(report).toMatchObject({ ready: false, progress: false });
    expect(report.components.model).toEqual({
      healthy: false,
      reason: `${UNHEALTHY_AFTER_FAILURES} consecutive parts failed inference_error: boom`,
    });
    expect(report.components.camera.healthy).toBe(true);
    expect(report.components.line.reason).toMatch(/the model fails/);
    const check = lineHealth(
      () => undefined,
      () => healthReport(s),
    );
    expect(check.healthy()).toBe(false);
  });

  it('a GPIO alarm and stopped gate threads are reasons of their own', () => {
    const alarm = { kind: 'gpio_unavailable', message: 'gpiomon exited' } as AlarmRecord;
    const report = healthReport(
      sources({
        line: () => ({ progress: () => false, activeAlarms: () => [alarm] }),
        gateThreads: () => ({ usable: false }),
      }),
    );
    expect(report.components.gpio.reason).toMatch(/^gpio_unavailable: gpiomon exited/);
    expect(report.components.gate_threads.healthy).toBe(false);
    expect(healthReport(sources({ line: () => undefined })).components.line.reason).toMatch(/^not running/);
  });
});
