import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { advance, makeRig } from './fakes.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('verdict order (docs/mqtt.md: SCADA gets verdicts in part order)', () => {
  it('a pass that completes while an earlier reject waits for its confirm window is released after it', async () => {
    // Part 1 (defective) fires at 490 ms and waits up to 300 ms for its confirm; part 2 (ok, 100 ms behind) goes
    // by at 600 ms, long before that window closes.
    const rig = makeRig({ confirm: { window_ms: 300 }, script: (i) => ({ verdict: i === 0 ? 'defective' : 'ok' }) });
    await rig.line.start(new AbortController().signal);
    rig.trigger.fire();
    await advance(100);
    rig.trigger.fire();
    await advance(600);
    expect(rig.records).toEqual([]);
    await advance(300);
    expect(rig.records.map((r) => [r.seq, r.decision, r.tracking.outcome, r.tracking.confirmed])).toEqual([
      [1, 'reject', 'fired', false],
      [2, 'pass', 'passed', null],
    ]);
  });

  it('every part of a mixed run is released once, in seq order', async () => {
    const rig = makeRig({
      confirm: { window_ms: 250 },
      script: (i) => ({ verdict: i % 3 === 0 ? 'defective' : 'ok', inspectMs: 10 + ((i * 37) % 90) }),
    });
    await rig.line.start(new AbortController().signal);
    for (let i = 0; i < 30; i++) {
      rig.trigger.fire();
      if (i % 4 === 0) rig.confirm.fire();
      await advance(40);
    }
    await advance(2000);
    expect(rig.records.map((r) => r.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });
});
