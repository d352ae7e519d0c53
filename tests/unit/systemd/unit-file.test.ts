import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stopLimitMs } from '../../../src/cli/run.js';
import { gateSection, pipelineSection } from '../../../src/config/sections/line.js';

const unitPath = path.resolve(import.meta.dirname, '../../../systemd/lineside.service');
const unit = readFileSync(unitPath, 'utf8');

function setting(key: string): string[] {
  return unit
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

describe('systemd/lineside.service', () => {
  it('is a notify service that is restarted, except on a configuration error (exit 78)', () => {
    expect(setting('Type')).toEqual(['notify']);
    expect(setting('Restart')).toEqual(['always']);
    expect(setting('RestartPreventExitStatus')).toEqual(['78']);
    expect(Number(setting('WatchdogSec')[0])).toBeGreaterThan(0);
    expect(setting('Environment').some((e) => e.startsWith('UV_THREADPOOL_SIZE='))).toBe(true);
    expect(setting('ExecStopPost')[0]).toContain('safe-outputs');
    expect(setting('DeviceAllow')).toEqual(expect.arrayContaining(['char-gpiochip rw']));
  });

  it("lets the daemon's own stop limit act before TimeoutStopSec's SIGKILL, even at the largest pipeline.drain_ms", () => {
    const largest = pipelineSection.parse({ drain_ms: 60_000 });
    expect(() => pipelineSection.parse({ drain_ms: 60_001 })).toThrow();
    expect(Number(setting('TimeoutStopSec')[0]) * 1000).toBeGreaterThan(stopLimitMs(largest));
  });

  it("lets the gate thread, and only up to gate.rt_priority's default, run real-time", () => {
    expect(setting('RestrictRealtime')).toEqual(['no']);
    expect(setting('LimitRTPRIO')).toEqual([String(gateSection.parse({ line: 1 }).rt_priority)]);
    // chrt needs sched_setscheduler, which is in @resources: the deny list must not drop it.
    expect(setting('SystemCallFilter').some((f) => f.startsWith('~') && f.includes('@resources'))).toBe(false);
    expect(setting('CPUSchedulingPolicy')).toEqual([]);
  });

  it('scores an exposure of at most 2.5 in systemd-analyze security', () => {
    const out = execFileSync('systemd-analyze', ['security', '--offline=true', unitPath], { encoding: 'utf8' });
    const match = /Overall exposure level for lineside\.service: ([0-9.]+)/.exec(out);
    expect(match, out.slice(-500)).not.toBeNull();
    expect(Number(match![1])).toBeLessThanOrEqual(2.5);
  });
});
