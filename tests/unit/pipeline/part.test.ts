import { describe, expect, it } from 'vitest';
import { Part, PartTable, newPartRecord } from '../../../src/pipeline/part.js';

function part(seq: number): Part {
  const wallNowMs = 1_700_000_000_000;
  return new Part(
    newPartRecord({ runId: 'run1', seq, mode: 'time', triggerMs: 1000, nowMs: 1500, wallNowMs, model: undefined }),
  );
}

describe('Part and PartTable', () => {
  it('a new record is a reject until decided, dated at its trigger in wall-clock time', () => {
    const p = part(7);
    expect(p.record).toMatchObject({
      seq: 7,
      id: 'run1-7',
      decision: 'reject',
      tracking: { mode: 'time', fired: false, confirmed: null },
    });
    expect(p.record.triggeredAt).toBe(new Date(1_700_000_000_000 - 500).toISOString());
    expect(p.phase).toBe('new');
    expect(p.undecided).toBe(true);
  });

  it('a new record names the loaded model: name, version, ONNX sha256 and the provider in use', () => {
    const model = { name: 'casting-cnn', version: '1.0.0', sha256: 'c0ffee', executionProvider: 'cuda' };
    const record = newPartRecord({ runId: 'r', seq: 1, mode: 'time', triggerMs: 0, nowMs: 0, wallNowMs: 0, model });
    expect(record).toMatchObject({
      modelName: 'casting-cnn',
      modelVersion: '1.0.0',
      modelSha256: 'c0ffee',
      executionProvider: 'cuda',
    });
  });

  it('counts inspection slots by phase and forgets a settled part', () => {
    const table = new PartTable();
    const a = part(1);
    const b = part(2);
    table.add(a);
    table.add(b);
    table.move(a, 'capturing');
    table.move(b, 'capturing');
    expect(table.inFlight).toBe(2);
    table.move(a, 'inspecting');
    expect(table.inFlight).toBe(2);
    table.move(a, 'decided');
    table.move(b, 'decided');
    expect(table.inFlight).toBe(0);
    expect(a.undecided).toBe(false);
    table.move(a, 'at_gate');
    table.move(a, 'awaiting_confirm');
    table.move(a, 'settled');
    expect(table.size).toBe(1);
    expect(table.get(1)).toBeUndefined();
    expect(table.get(2)).toBe(b);
  });

  it('refuses a move the state machine does not have, and leaves the phase as it was', () => {
    const p = part(1);
    expect(() => p.moveTo('at_gate')).toThrow(/no move from new to at_gate/);
    p.moveTo('decided');
    expect(() => p.moveTo('capturing')).toThrow(/no move from decided to capturing/);
    p.moveTo('settled');
    expect(() => p.moveTo('settled')).toThrow(/no move from settled to settled/);
    expect(p.phase).toBe('settled');
  });

  it('cancels its timers once', () => {
    const p = part(1);
    let cancelled = 0;
    p.addTimer(() => cancelled++);
    p.addTimer(() => cancelled++);
    p.cancelTimers();
    p.cancelTimers();
    expect(cancelled).toBe(2);
  });
});
