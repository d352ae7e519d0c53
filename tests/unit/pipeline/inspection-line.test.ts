import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ErrorCode } from '../../../src/errors.js';
import type { FailsafeReason } from '../../../src/domain/part.js';
import { advance, makeRig, type PartScript, type RigOptions } from './fakes.js';

const ac = () => new AbortController().signal;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

async function started(opts: RigOptions = {}) {
  const rig = makeRig(opts);
  await rig.line.start(ac());
  return rig;
}

describe('InspectionLine: time tracking', () => {
  it('an ok part passes: record completed when it reaches the gate, gate never active', async () => {
    const rig = await started();
    const t0 = performance.now();
    rig.trigger.fire('rising', t0);
    await advance(499);
    expect(rig.records).toHaveLength(0);
    await advance(2);
    expect(rig.records).toHaveLength(1);
    const r = rig.records[0]!;
    expect(r).toMatchObject({
      seq: 1,
      id: 'run1-1',
      runId: 'run1',
      triggerMs: t0,
      decision: 'pass',
      verdict: 'ok',
      defectScore: 0.1,
      modelVersion: '1.2.3',
      executionProvider: 'cpu',
      source: 'part-0.jpg',
      stagesMs: { capture: 20, preprocess: 2, inference: 10 },
      verdictLatencyMs: 50,
      tracking: { mode: 'time', dueMs: t0 + 500, fired: false, confirmed: null, outcome: 'passed' },
    });
    expect(r.failsafeReason).toBeUndefined();
    expect(rig.gate.pulses()).toEqual([]);
  });

  it('a defective part is rejected at due - lead_ms exactly, and its record says so', async () => {
    const rig = await started({ script: () => ({ verdict: 'defective' }) });
    const t0 = performance.now();
    rig.trigger.fire('rising', t0);
    await advance(1000);
    expect(rig.gate.pulses()).toEqual([{ startMs: t0 + 490, endMs: t0 + 570 }]);
    expect(rig.records[0]).toMatchObject({
      decision: 'reject',
      verdict: 'defective',
      tracking: { fired: true, firedMs: t0 + 490, gateLatenessMs: 0, outcome: 'fired', confirmed: null },
    });
    expect(rig.line.summary().gatePulses).toBe(1);
  });

  it("a verdict not known at due - lead is a 'late' reject fired on time, and the inspection is aborted", async () => {
    const rig = await started({ script: () => ({ inspectMs: 480, verdict: 'ok' }), inspectTimeoutMs: 2000 });
    const t0 = performance.now();
    rig.trigger.fire('rising', t0);
    await advance(489);
    expect(rig.inspectSignals[0]?.aborted).toBe(false);
    await advance(1);
    expect(rig.gate.active).toBe(true);
    expect(rig.gate.pulses()[0]?.startMs).toBe(t0 + 490);
    expect(rig.inspectSignals[0]?.aborted).toBe(true);
    await advance(200);
    expect(rig.records[0]).toMatchObject({ decision: 'reject', failsafeReason: 'late', tracking: { fired: true } });
    expect(rig.records[0]?.verdict).toBeUndefined();
    expect(rig.line.summary().failsafe.late).toBe(1);
    expect(rig.line.inFlightCount).toBe(0);
  });

  it('a part triggered (timestamped) so long ago that its gate moment has passed is rejected late at once', async () => {
    const rig = await started();
    await advance(1000);
    rig.trigger.fire('rising', performance.now() - 600);
    await advance(1);
    expect(rig.gate.active).toBe(true);
    await advance(200);
    expect(rig.records[0]?.failsafeReason).toBe('late');
    expect(rig.line.inFlightCount).toBe(0);
  });

  it('a burst of overlapping defective parts 30 ms apart makes one merged gate pulse covering all of them', async () => {
    const rig = await started({
      script: () => ({ verdict: 'defective', captureMs: 40 }),
      trigger: { min_spacing_ms: 10 },
    });
    const t0 = performance.now();
    for (let i = 0; i < 4; i++) {
      rig.trigger.fire('rising', performance.now());
      await advance(30);
    }
    await advance(1000);
    expect(rig.gate.pulses()).toEqual([{ startMs: t0 + 490, endMs: t0 + 90 + 490 + 80 }]);
    expect(rig.records.map((r) => [r.seq, r.tracking.fired, r.tracking.firedMs! - r.triggerMs])).toEqual([
      [1, true, 490],
      [2, true, 490],
      [3, true, 490],
      [4, true, 490],
    ]);
    expect(rig.line.summary()).toMatchObject({ gatePulses: 1, reject: 4, triggers: { overlapping: 3 } });
  });

  it('a trigger closer than min_spacing_ms is a double trigger: counted, no part', async () => {
    const rig = await started({ trigger: { min_spacing_ms: 50 } });
    rig.trigger.fire();
    await advance(49);
    rig.trigger.fire();
    await advance(1);
    rig.trigger.fire();
    await advance(1000);
    expect(rig.records.map((r) => r.seq)).toEqual([1, 2]);
    expect(rig.line.summary().triggers).toEqual({ accepted: 2, double: 1, missed: 0, overlapping: 0 });
    expect(rig.line.acceptedTriggers).toBe(2);
  });

  it('pass decisions between rejects do not move the gate, and seq is consecutive', async () => {
    const verdicts: ('ok' | 'defective')[] = ['ok', 'defective', 'ok', 'ok', 'defective'];
    const rig = await started({ script: (i) => ({ verdict: verdicts[i] ?? 'ok' }) });
    const t0 = performance.now();
    for (let i = 0; i < verdicts.length; i++) {
      rig.trigger.fire();
      await advance(200);
    }
    await advance(1000);
    expect(rig.records.map((r) => r.decision)).toEqual(['pass', 'reject', 'pass', 'pass', 'reject']);
    expect(rig.gate.pulses().map((p) => p.startMs - t0)).toEqual([690, 1290]);
  });
});

describe('InspectionLine: fail-safe reasons', () => {
  const cases: [string, PartScript, FailsafeReason, ErrorCode | undefined, RigOptions?][] = [
    ['capture hangs past camera.timeout_ms', { captureHangs: true }, 'camera_timeout', 'LS_CAMERA_TIMEOUT'],
    ['camera reports a timeout', { captureError: 'LS_CAMERA_TIMEOUT' }, 'camera_timeout', 'LS_CAMERA_TIMEOUT'],
    ['camera driver error', { captureError: 'LS_CAMERA_ERROR' }, 'camera_error', 'LS_CAMERA_ERROR'],
    ['camera throws a plain error', { captureError: 'plain' }, 'camera_error', 'LS_CAMERA_ERROR'],
    ['image does not decode', { inspectError: 'LS_IMAGE_DECODE' }, 'decode_error', 'LS_IMAGE_DECODE'],
    ['image too large', { inspectError: 'LS_IMAGE_TOO_LARGE' }, 'decode_error', 'LS_IMAGE_TOO_LARGE'],
    ['inference fails', { inspectError: 'LS_INFERENCE_FAILED' }, 'inference_error', 'LS_INFERENCE_FAILED'],
    ['worker died', { inspectError: 'LS_INFERENCE_WORKER_DIED' }, 'inference_error', 'LS_INFERENCE_WORKER_DIED'],
    ['inference hangs past inference.timeout_ms', { inspectHangs: true }, 'inference_error', 'LS_INFERENCE_FAILED'],
    ['model not loaded', { inspectError: 'LS_MODEL_INVALID' }, 'model_not_ready', 'LS_MODEL_INVALID'],
  ];
  for (const [what, script, reason, code] of cases) {
    it(`${what} -> reject '${reason}'`, async () => {
      const rig = await started({ script: () => script, captureTimeoutMs: 100, inspectTimeoutMs: 150 });
      const t0 = performance.now();
      rig.trigger.fire();
      await advance(1000);
      expect(rig.records).toHaveLength(1);
      expect(rig.records[0]).toMatchObject({ decision: 'reject', failsafeReason: reason, tracking: { fired: true } });
      expect(rig.records[0]?.errorCode).toBe(code);
      expect(rig.gate.pulses()[0]?.startMs).toBe(t0 + 490);
      const s = rig.line.summary();
      expect(s.failsafe[reason]).toBe(1);
      expect(Object.values(s.failsafe).reduce((a, b) => a + b, 0)).toBe(1);
      expect(rig.line.inFlightCount).toBe(0);
    });
  }

  it("a model that is not ready is not asked: 'model_not_ready'", async () => {
    const rig = await started();
    rig.ready.value = false;
    rig.trigger.fire();
    await advance(1000);
    expect(rig.inspectSignals).toHaveLength(0);
    expect(rig.records[0]).toMatchObject({ decision: 'reject', failsafeReason: 'model_not_ready' });
  });

  it('the capture deadline aborts the capture signal', async () => {
    const rig = await started({ script: () => ({ captureHangs: true }), captureTimeoutMs: 100 });
    rig.trigger.fire();
    await advance(99);
    expect(rig.captureSignals[0]?.aborted).toBe(false);
    await advance(1);
    expect(rig.captureSignals[0]?.aborted).toBe(true);
  });

  it("in-flight parts are bounded by max_in_flight: the excess is an 'overrun' reject, never queued", async () => {
    const rig = await started({
      script: () => ({ inspectMs: 300, verdict: 'ok' }),
      pipeline: { max_in_flight: 2 },
      tracking: { mode: 'time', distance_mm: 1000, belt_speed_mm_s: 1000 },
      inspectTimeoutMs: 1000,
    });
    let maxInFlight = 0;
    for (let i = 0; i < 5; i++) {
      rig.trigger.fire();
      maxInFlight = Math.max(maxInFlight, rig.line.inFlightCount);
      await advance(20);
    }
    await advance(2000);
    expect(maxInFlight).toBe(2);
    expect(rig.captureSignals).toHaveLength(2);
    expect(rig.records.map((r) => r.failsafeReason ?? r.decision)).toEqual([
      'pass',
      'pass',
      'overrun',
      'overrun',
      'overrun',
    ]);
    expect(rig.records[2]?.errorCode).toBe('LS_PIPELINE_OVERRUN');
    expect(rig.line.summary().failsafe.overrun).toBe(3);
    // A slot frees up once a part is decided: the next trigger is inspected again.
    rig.trigger.fire();
    await advance(2000);
    expect(rig.records[5]?.decision).toBe('pass');
  });
});

describe('InspectionLine: encoder tracking', () => {
  const encoder = { mode: 'encoder', counts_to_gate: 400, encoder: { line: 5 }, max_wait_ms: 10_000 };

  /** Runs the belt: one encoder edge every periodMs, `edges` times. */
  async function belt(
    rig: ReturnType<typeof makeRig>,
    periodMs: number,
    edges: number,
    onEdge?: (count: number) => void,
  ) {
    for (let i = 0; i < edges; i++) {
      await advance(periodMs);
      rig.encoder.fire();
      onEdge?.(i);
    }
  }

  it('fires at due count minus the lead counts at the measured speed, whatever the speed', async () => {
    for (const periodMs of [0.5, 1, 2, 3, 5]) {
      vi.useFakeTimers();
      const rig = await started({ tracking: encoder, gate: { lead_ms: 10 }, script: () => ({ verdict: 'defective' }) });
      await belt(rig, periodMs, 10);
      rig.trigger.fire();
      let countAtFire: number | undefined;
      await belt(rig, periodMs, 500, (i) => {
        if (countAtFire === undefined && rig.gate.active) countAtFire = i + 1;
      });
      const expectedLead = Math.ceil(10 / periodMs);
      expect(rig.records[0]?.tracking).toMatchObject({
        mode: 'encoder',
        dueCount: 410,
        leadCounts: expectedLead,
        fired: true,
      });
      expect(countAtFire).toBe(400 - expectedLead);
      vi.useRealTimers();
    }
  });

  it('follows speed changes and waits while the belt is stopped; the verdict that came in meanwhile is used', async () => {
    const rig = await started({ tracking: encoder, gate: { lead_ms: 0 }, script: () => ({ verdict: 'defective' }) });
    rig.trigger.fire();
    await belt(rig, 1, 100);
    await advance(5000);
    expect(rig.records).toHaveLength(0);
    expect(rig.gate.active).toBe(false);
    let countAtFire: number | undefined;
    await belt(rig, 3, 400, (i) => {
      if (countAtFire === undefined && rig.gate.active) countAtFire = 100 + i + 1;
    });
    expect(countAtFire).toBe(400);
    expect(rig.records[0]).toMatchObject({ decision: 'reject', verdict: 'defective', tracking: { fired: true } });
  });

  it("on a stopped belt a part waits max_wait_ms for its verdict, is marked 'late', and is rejected when it arrives", async () => {
    const rig = await started({
      tracking: { ...encoder, max_wait_ms: 3000 },
      gate: { lead_ms: 0 },
      script: () => ({ inspectHangs: true }),
      inspectTimeoutMs: 60_000,
    });
    rig.trigger.fire();
    await advance(2999);
    expect(rig.inspectSignals[0]?.aborted).toBe(false);
    await advance(1);
    expect(rig.inspectSignals[0]?.aborted).toBe(true);
    expect(rig.gate.active).toBe(false);
    await belt(rig, 1, 400);
    expect(rig.gate.pulses()).toHaveLength(1);
    await advance(100);
    expect(rig.records[0]).toMatchObject({ decision: 'reject', failsafeReason: 'late', tracking: { fired: true } });
  });

  it('an undecided part reaching its gate count is rejected late at that count', async () => {
    const rig = await started({
      tracking: encoder,
      gate: { lead_ms: 0 },
      script: () => ({ inspectMs: 900 }),
      inspectTimeoutMs: 2000,
    });
    rig.trigger.fire();
    await belt(rig, 1, 400);
    expect(rig.gate.active).toBe(true);
    await advance(100);
    expect(rig.records[0]?.failsafeReason).toBe('late');
  });

  it('parts pass when they reach the gate count, in order', async () => {
    const rig = await started({ tracking: encoder, gate: { lead_ms: 0 } });
    rig.trigger.fire();
    await belt(rig, 1, 100);
    rig.trigger.fire();
    await belt(rig, 1, 299);
    expect(rig.records).toHaveLength(0);
    await belt(rig, 1, 1);
    expect(rig.records.map((r) => r.seq)).toEqual([1]);
    await belt(rig, 1, 100);
    expect(rig.records.map((r) => [r.seq, r.decision, r.tracking.outcome])).toEqual([
      [1, 'pass', 'passed'],
      [2, 'pass', 'passed'],
    ]);
  });
  it('triggers with no encoder count between them: encoder_stalled alarm, gate held in reject, every part completed, memory bounded', async () => {
    const script = (i: number): PartScript =>
      i === 1 ? { verdict: 'defective' } : i === 2 ? { inspectHangs: true } : { verdict: 'ok' };
    const rig = await started({ tracking: encoder, gate: { lead_ms: 0 }, script, inspectTimeoutMs: 60_000 });
    await belt(rig, 1, 10);
    rig.trigger.fire();
    await belt(rig, 1, 50);
    // The encoder wire breaks; the belt keeps running and parts keep arriving.
    await advance(100);
    rig.trigger.fire();
    await advance(100);
    rig.trigger.fire();
    await advance(100);
    expect(rig.alarms).toEqual([]);
    expect(rig.records).toEqual([]);
    expect(rig.line.progress()).toBe(true);
    rig.trigger.fire();
    await advance(0);
    expect(rig.alarms.map((a) => [a.kind, a.partId])).toEqual([['encoder_stalled', 'run1-4']]);
    expect(rig.line.progress()).toBe(false);
    expect(rig.gate.active).toBe(true);
    expect(rig.records.map((r) => [r.seq, r.decision, r.verdict, r.failsafeReason, r.tracking.outcome])).toEqual([
      [1, 'reject', 'ok', 'encoder_stalled', 'held_reject'],
      [2, 'reject', 'defective', undefined, 'held_reject'],
      [3, 'reject', undefined, 'encoder_stalled', 'held_reject'],
      [4, 'reject', undefined, 'encoder_stalled', 'held_reject'],
    ]);
    expect(rig.inspectSignals[2]?.aborted).toBe(true);
    expect(rig.captureSignals).toHaveLength(3);
    for (let i = 0; i < 20; i++) {
      await advance(100);
      rig.trigger.fire();
    }
    await advance(0);
    expect(rig.records).toHaveLength(24);
    expect(rig.records[23]).toMatchObject({
      decision: 'reject',
      failsafeReason: 'encoder_stalled',
      tracking: { outcome: 'held_reject' },
    });
    expect(rig.line.inFlightCount).toBe(0);
    expect(rig.line.summary()).toMatchObject({
      parts: 24,
      reject: 24,
      failsafe: { encoder_stalled: 23 },
      alarms: { byKind: { encoder_stalled: 1 } },
    });
    expect(rig.line.activeAlarms()[0]?.repeats).toBe(0);
    // The encoder comes back: the gate stays in reject until the last held part (due at count 60 + 400) is past.
    await belt(rig, 1, 399);
    expect(rig.gate.active).toBe(true);
    expect(rig.line.progress()).toBe(false);
    await belt(rig, 1, 1);
    await advance(79);
    expect(rig.gate.active).toBe(true);
    await advance(1);
    expect(rig.gate.active).toBe(false);
    expect(rig.gate.pulses()).toHaveLength(1);
    expect(rig.line.progress()).toBe(true);
    expect(rig.line.activeAlarms().map((a) => a.kind)).toEqual(['encoder_stalled']);
    // Tracking works again for new parts.
    rig.trigger.fire();
    await belt(rig, 1, 400);
    expect(rig.records[24]).toMatchObject({ seq: 25, decision: 'pass', tracking: { outcome: 'passed', fired: false } });
  });

  it('one encoder count between parts is enough to keep tracking (a slow belt is not a stalled encoder)', async () => {
    const rig = await started({ tracking: { ...encoder, counts_to_gate: 5 }, gate: { lead_ms: 0 } });
    for (let i = 0; i < 10; i++) {
      rig.trigger.fire();
      await advance(100);
      rig.trigger.fire();
      await advance(100);
      rig.encoder.fire();
    }
    await belt(rig, 1, 5);
    expect(rig.alarms).toEqual([]);
    expect(rig.records).toHaveLength(20);
    expect(rig.records.every((r) => r.decision === 'pass' && r.tracking.outcome === 'passed')).toBe(true);
  });
});

describe('InspectionLine: reject confirmation and alarms', () => {
  it('a reject confirmed within window_ms completes with confirmed = true', async () => {
    const rig = await started({ confirm: { window_ms: 300 }, script: () => ({ verdict: 'defective' }) });
    rig.trigger.fire();
    await advance(600);
    expect(rig.records).toHaveLength(0);
    rig.confirm.fire();
    await advance(1);
    expect(rig.records[0]?.tracking.confirmed).toBe(true);
    expect(rig.alarms).toEqual([]);
    expect(rig.line.summary().confirm).toEqual({ confirmed: 1, unconfirmed: 0, unexpected: 0 });
  });

  it('a reject not confirmed within window_ms raises an alarm that drives the alarm output until acknowledged', async () => {
    const rig = await started({
      confirm: { window_ms: 300 },
      withAlarmOutput: true,
      script: () => ({ verdict: 'defective' }),
    });
    const t0 = performance.now();
    rig.trigger.fire();
    await advance(789);
    expect(rig.alarms).toHaveLength(0);
    await advance(2);
    expect(rig.records[0]?.tracking.confirmed).toBe(false);
    expect(rig.alarms).toHaveLength(1);
    expect(rig.alarms[0]).toMatchObject({
      id: 'run1-A1',
      kind: 'reject_not_confirmed',
      partId: 'run1-1',
      acknowledged: false,
    });
    expect(rig.alarms[0]?.raisedMs).toBe(t0 + 790);
    expect(rig.alarmOut.active).toBe(true);
    expect(rig.line.activeAlarms().map((a) => a.id)).toEqual(['run1-A1']);
    expect(rig.line.acknowledge('nope')).toEqual([]);
    expect(rig.line.acknowledge('run1-A1').map((a) => a.id)).toEqual(['run1-A1']);
    await advance(0);
    expect(rig.alarmOut.active).toBe(false);
    expect(rig.line.activeAlarms()).toEqual([]);
    expect(rig.acks[0]?.[0]).toMatchObject({ id: 'run1-A1', acknowledged: true });
  });

  it('a confirm edge with no reject waiting is counted as unexpected; passes need no confirm', async () => {
    const rig = await started({ confirm: { window_ms: 300 } });
    rig.trigger.fire();
    await advance(600);
    expect(rig.records[0]?.tracking.confirmed).toBeNull();
    rig.confirm.fire();
    expect(rig.line.summary().confirm.unexpected).toBe(1);
  });

  it('N consecutive rejects raise one alarm; a repeat while unacknowledged does not flood; a pass resets the count', async () => {
    const verdicts = [
      'defective',
      'defective',
      'ok',
      'defective',
      'defective',
      'defective',
      'defective',
      'defective',
      'defective',
    ];
    const rig = await started({
      alarms: { consecutive_rejects: 3 },
      script: (i) => ({ verdict: (verdicts[i] ?? 'defective') === 'defective' ? 'defective' : 'ok' }),
    });
    for (let i = 0; i < verdicts.length; i++) {
      rig.trigger.fire();
      await advance(200);
    }
    await advance(1000);
    expect(rig.alarms.map((a) => [a.kind, a.partId])).toEqual([['consecutive_rejects', 'run1-6']]);
    expect(rig.line.activeAlarms()[0]?.repeats).toBe(1);
    rig.line.acknowledge('all');
    for (let i = 0; i < 3; i++) {
      rig.trigger.fire();
      await advance(200);
    }
    await advance(1000);
    expect(rig.alarms.map((a) => a.partId)).toEqual(['run1-6', 'run1-12']);
    expect(rig.line.summary().alarms.byKind.consecutive_rejects).toBe(2);
  });

  it('a reject rate above the limit over the rolling window raises an alarm', async () => {
    const defective = new Set([1, 4, 9, 10, 11]);
    const rig = await started({
      alarms: { reject_rate_percent: 30, reject_rate_window: 10 },
      script: (i) => ({ verdict: defective.has(i) ? 'defective' : 'ok' }),
    });
    for (let i = 0; i < 12; i++) {
      rig.trigger.fire();
      await advance(100);
      if (i === 9) expect(rig.alarms).toHaveLength(0);
    }
    await advance(1000);
    // Parts 1..10 hold 3 rejects (30%, not above the limit); parts 2..11 hold 4 (40%).
    expect(rig.alarms.map((a) => [a.kind, a.partId])).toEqual([['reject_rate', 'run1-11']]);
    expect(rig.alarms[0]?.message).toContain('40.0%');
  });

  it('the bin-full input raises an alarm on its edge, and at start when already full', async () => {
    const rig = makeRig({ withBinFull: true });
    rig.binFull.level = true;
    await rig.line.start(ac());
    expect(rig.line.activeAlarms().map((a) => a.kind)).toEqual(['bin_full']);
    rig.line.acknowledge('all');
    rig.binFull.fire('falling');
    expect(rig.line.activeAlarms()).toEqual([]);
    rig.binFull.fire('rising');
    await advance(0);
    expect(rig.alarms.map((a) => a.kind)).toEqual(['bin_full', 'bin_full']);
  });

  it('a failed gate write raises an alarm, marks the part, and makes the line unhealthy until acknowledged', async () => {
    const rig = await started({ script: () => ({ verdict: 'defective' }) });
    rig.gate.failWrites = true;
    rig.trigger.fire();
    await advance(1000);
    expect(rig.records[0]).toMatchObject({
      decision: 'reject',
      errorCode: 'LS_GPIO_WRITE',
      tracking: { fired: false },
    });
    expect(rig.alarms.map((a) => a.kind)).toContain('gate_write_failed');
    expect(rig.line.progress()).toBe(false);
    rig.gate.failWrites = false;
    rig.line.acknowledge('all');
    expect(rig.line.progress()).toBe(true);
  });
  it('acknowledging gate_write_failed while the gate still cannot be written keeps the line unhealthy and raises the alarm again', async () => {
    const rig = await started({ script: () => ({ verdict: 'defective' }) });
    rig.gate.failWrites = true;
    rig.trigger.fire();
    await advance(1000);
    expect(rig.line.progress()).toBe(false);
    expect(rig.line.acknowledge('all').map((a) => a.kind)).toEqual(['gate_write_failed']);
    expect(rig.line.progress()).toBe(false);
    await advance(0);
    expect(rig.alarms.map((a) => [a.id, a.kind])).toEqual([
      ['run1-A1', 'gate_write_failed'],
      ['run1-A2', 'gate_write_failed'],
    ]);
    rig.gate.failWrites = false;
    const writes = rig.gate.writes.length;
    rig.line.acknowledge('all');
    expect(rig.gate.writes.slice(writes).map((w) => w.level)).toEqual([false]);
    expect(rig.line.progress()).toBe(true);
  });

  it("a gate activation more than gate.max_lateness_ms late is recorded 'fired_late', counted, and raises gate_late", async () => {
    for (const maxLatenessMs of [20, 100]) {
      vi.useFakeTimers();
      const rig = await started({
        gate: { merge: false, max_lateness_ms: maxLatenessMs },
        script: () => ({ verdict: 'defective' }),
      });
      const t0 = performance.now();
      rig.trigger.fire();
      await advance(30);
      rig.trigger.fire();
      await advance(1000);
      // Part 2 is due at 520 but the first pulse (490..570) and min_gap (20) hold it until 590: 70 ms late.
      expect(
        rig.records.map((r) => [r.seq, r.tracking.firedMs! - t0, r.tracking.gateLatenessMs, r.tracking.outcome]),
      ).toEqual([
        [1, 490, 0, 'fired'],
        [2, 590, 70, maxLatenessMs === 20 ? 'fired_late' : 'fired'],
      ]);
      expect(rig.records[1]?.tracking.fired).toBe(true);
      if (maxLatenessMs === 20) {
        expect(rig.alarms.map((a) => [a.kind, a.partId])).toEqual([['gate_late', 'run1-2']]);
        expect(rig.alarms[0]?.message).toContain('70.0 ms late');
        expect(rig.line.summary().gateLate).toBe(1);
      } else {
        expect(rig.alarms).toEqual([]);
        expect(rig.line.summary().gateLate).toBe(0);
      }
      vi.useRealTimers();
    }
  });
});

describe('InspectionLine: heartbeat and progress', () => {
  it('toggles every period_ms while healthy and holds still while unhealthy', async () => {
    const rig = await started({ heartbeat: { period_ms: 100 } });
    await advance(1000);
    const healthyToggles = rig.heartbeat.writes.length;
    expect(healthyToggles).toBe(11);
    rig.healthy.value = false;
    expect(rig.line.progress()).toBe(false);
    await advance(1000);
    expect(rig.heartbeat.writes.length).toBe(healthyToggles);
    rig.healthy.value = true;
    await advance(300);
    expect(rig.heartbeat.writes.length).toBe(healthyToggles + 3);
  });

  it('progress() is false before start and after stop, true while idle and healthy and while parts flow', async () => {
    const rig = makeRig();
    expect(rig.line.progress()).toBe(false);
    await rig.line.start(ac());
    expect(rig.line.progress()).toBe(true);
    rig.trigger.fire();
    await advance(10);
    expect(rig.line.progress()).toBe(true);
    await advance(1000);
    await rig.line.stop();
    expect(rig.line.progress()).toBe(false);
  });
});

describe('InspectionLine: shutdown', () => {
  it("drains: in-flight parts finish and reach the gate within drain_ms; a part seen while draining is rejected 'shutdown' through the gate", async () => {
    const rig = await started({ script: () => ({ verdict: 'ok' }), heartbeat: { period_ms: 50 } });
    const t0 = performance.now();
    rig.trigger.fire();
    await advance(10);
    const stopped = rig.line.stop();
    rig.trigger.fire();
    await advance(1000);
    await stopped;
    const bySeq = [...rig.records].sort((a, b) => a.seq - b.seq);
    expect(bySeq.map((r) => [r.seq, r.decision, r.failsafeReason, r.tracking.outcome, r.tracking.firedMs])).toEqual([
      [1, 'pass', undefined, 'passed', undefined],
      [2, 'reject', 'shutdown', 'fired', t0 + 10 + 490],
    ]);
    expect(bySeq[1]?.verdict).toBeUndefined();
    expect(rig.captureSignals).toHaveLength(1);
    expect(rig.gate.pulses()).toEqual([{ startMs: t0 + 500, endMs: t0 + 580 }]);
    expect(rig.line.summary()).toMatchObject({
      triggers: { accepted: 2, missed: 0 },
      failsafe: { shutdown: 1 },
      safeState: { parts: 0, rejectsNotFired: 0 },
    });
    expect(rig.gate.active).toBe(false);
    expect(rig.heartbeat.active).toBe(false);
    expect(rig.trigger.listenerCount).toBe(0);
  });

  it('a part seen while draining that cannot reach the gate before drain_ms ends is counted as a reject not fired', async () => {
    const rig = await started({ pipeline: { drain_ms: 300 }, script: () => ({ verdict: 'ok', inspectMs: 250 }) });
    rig.trigger.fire();
    await advance(10);
    const stopped = rig.line.stop();
    rig.trigger.fire();
    await advance(300);
    await stopped;
    expect(rig.records.map((r) => [r.seq, r.decision, r.failsafeReason, r.tracking.outcome])).toEqual([
      [1, 'pass', undefined, 'safe_state'],
      [2, 'reject', 'shutdown', 'safe_state'],
    ]);
    expect(rig.line.summary().safeState).toEqual({ parts: 2, rejectsNotFired: 1, ids: ['run1-1', 'run1-2'] });
  });

  it("parts undecided after drain_ms are rejected 'shutdown'; parts still on the belt are left to the safe state", async () => {
    const rig = await started({
      pipeline: { drain_ms: 200 },
      tracking: { mode: 'time', distance_mm: 2000, belt_speed_mm_s: 1000 },
      script: (i) => (i === 0 ? { verdict: 'ok' } : { inspectHangs: true }),
      inspectTimeoutMs: 5000,
    });
    rig.trigger.fire();
    await advance(100);
    rig.trigger.fire();
    await advance(100);
    const stopped = rig.line.stop();
    await advance(199);
    expect(rig.records).toHaveLength(0);
    await advance(1);
    await stopped;
    expect(rig.records.map((r) => [r.seq, r.decision, r.failsafeReason, r.tracking.outcome, r.tracking.fired])).toEqual(
      [
        [1, 'pass', undefined, 'safe_state', false],
        [2, 'reject', 'shutdown', 'safe_state', false],
      ],
    );
    expect(rig.inspectSignals[1]?.aborted).toBe(true);
    expect(rig.line.summary()).toMatchObject({
      failsafe: { shutdown: 1 },
      safeState: { parts: 2, rejectsNotFired: 1 },
    });
    expect(rig.gate.active).toBe(false);
  });

  it('with a fail-safe diverter (energised = pass) the gate is held active while running and dropped at stop', async () => {
    const rig = await started({ gate: { energised_position: 'pass' }, pipeline: { drain_ms: 0 } });
    expect(rig.gate.active).toBe(true);
    rig.trigger.fire();
    await advance(100);
    await rig.line.stop();
    expect(rig.gate.active).toBe(false);
    expect(rig.line.summary().safeState).toEqual({ parts: 1, rejectsNotFired: 0, ids: ['run1-1'] });
  });
});

describe('InspectionLine: summary', () => {
  it('counts ok/reject, escapes, false rejects and trigger-to-verdict latency percentiles', async () => {
    // 100 parts; inspection time i ms (so verdict latency = 20 + i); labels vs verdicts chosen to make escapes.
    const rig = await started({
      tracking: { mode: 'time', distance_mm: 1000, belt_speed_mm_s: 1000 },
      pipeline: { max_in_flight: 64 },
      script: (i) => ({
        inspectMs: i + 1,
        label: i % 10 === 0 ? 'defective' : 'ok',
        verdict: i % 10 === 0 && i % 20 !== 0 ? 'defective' : i === 55 ? 'defective' : 'ok',
      }),
    });
    for (let i = 0; i < 100; i++) {
      rig.trigger.fire();
      await advance(50);
    }
    await advance(3000);
    const s = rig.line.summary();
    expect(s.parts).toBe(100);
    expect(s.reject).toBe(6);
    expect(s.ok).toBe(94);
    expect(s.labelled).toBe(100);
    expect(s.escapes).toBe(5);
    expect(s.falseRejects).toBe(1);
    // Latencies 21..120 ms; nearest rank: p50 = 70, p99 = 119 (reported to the 0.1 ms bucket's upper edge).
    expect(s.latencyMs.p50).toBeCloseTo(70.1, 5);
    expect(s.latencyMs.p99).toBeCloseTo(119.1, 5);
    expect(s.latencyMs.max).toBe(120);
    expect(s.gatePulses).toBe(6);
    expect(s.gateLatenessMs.max).toBe(0);
  });
});

describe('InspectionLine: alarm output failure', () => {
  it('an alarm output that cannot be written raises its own alarm and never loops', async () => {
    const rig = await started({ withAlarmOutput: true, withBinFull: true });
    rig.alarmOut.failWrites = true;
    rig.binFull.fire('rising');
    await advance(0);
    expect(rig.line.activeAlarms().map((a) => a.kind)).toEqual(['bin_full', 'output_write_failed']);
    expect(rig.line.progress()).toBe(true);
  });
});
