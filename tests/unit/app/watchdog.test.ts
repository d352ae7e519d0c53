import { afterEach, describe, expect, it, vi } from 'vitest';
import { ComponentHealth, UNHEALTHY_AFTER_FAILURES, lineHealth } from '../../../src/app/health.js';
import { watchdogStage } from '../../../src/app/watchdog.js';
import type { PartRecord } from '../../../src/domain/part.js';
import type { Notifier } from '../../../src/notify.js';
import { captureLogger } from '../io/gpio/helpers.js';

function notifier(watchdogMs: number | null): Notifier & { sent: Record<string, string>[] } {
  const sent: Record<string, string>[] = [];
  return { watchdogMs, sent, send: (state) => sent.push(state), close: () => undefined };
}

const signal = new AbortController().signal;

afterEach(() => {
  vi.useRealTimers();
});

describe('the watchdog stage', () => {
  it('pings at half the interval while healthy, withholds the ping with a warning while not, and stops with its stage', async () => {
    vi.useFakeTimers();
    const n = notifier(1000);
    let healthy = true;
    const log = captureLogger();
    const stage = watchdogStage({ notifier: n, health: { healthy: () => healthy }, logger: log.logger });
    await stage.start(signal);
    vi.advanceTimersByTime(1000);
    expect(n.sent).toEqual([{ WATCHDOG: '1' }, { WATCHDOG: '1' }]);
    healthy = false;
    vi.advanceTimersByTime(500);
    expect(n.sent).toHaveLength(2);
    expect(log.lines.at(-1)).toMatchObject({ code: 'LS_WATCHDOG', level: 40 });
    healthy = true;
    await stage.stop();
    vi.advanceTimersByTime(5000);
    expect(n.sent).toHaveLength(2);
  });

  it('does nothing without a watchdog (no WATCHDOG_USEC, or no systemd)', async () => {
    vi.useFakeTimers();
    for (const n of [notifier(null), undefined]) {
      const stage = watchdogStage({ notifier: n, health: { healthy: () => true }, logger: captureLogger().logger });
      await stage.start(signal);
      expect(vi.getTimerCount()).toBe(0);
      await stage.stop();
    }
  });
});

function part(over: Partial<PartRecord>): PartRecord {
  return { decision: 'reject', ...over } as PartRecord;
}

describe('health', () => {
  it('a broken camera or model: unhealthy after consecutive component failures; one verdict makes it healthy again', () => {
    const health = new ComponentHealth();
    for (let i = 1; i < UNHEALTHY_AFTER_FAILURES; i++) health.record(part({ failsafeReason: 'camera_timeout' }));
    // A late part is the part's bad luck, not a broken component: it neither counts nor resets.
    health.record(part({ failsafeReason: 'late' }));
    expect(health.healthy()).toBe(true);
    health.record(part({ failsafeReason: 'inference_error' }));
    expect(health.healthy()).toBe(false);
    health.record(part({ verdict: 'ok', decision: 'pass' }));
    expect(health.healthy()).toBe(true);
  });

  it('the daemon is healthy only while the line runs and makes progress', () => {
    let line: { progress(): boolean } | undefined;
    const check = lineHealth(() => line);
    expect(check.healthy()).toBe(false);
    line = { progress: () => true };
    expect(check.healthy()).toBe(true);
    line = { progress: () => false };
    expect(check.healthy()).toBe(false);
  });
});
