import type { PartRecord } from '../../../src/domain/part.js';

/** A completed part record as the line emits it; `over` changes what a test is about. */
export function partRecord(seq: number, over: Partial<PartRecord> = {}): PartRecord {
  return {
    seq,
    id: `run1-${seq}`,
    runId: 'run1',
    triggerMs: 1000 + seq * 100,
    triggeredAt: new Date(Date.UTC(2026, 11, 3, 10, 0, 0) + seq * 100).toISOString(),
    verdict: 'ok',
    defectScore: 0.01,
    threshold: 0.5,
    modelVersion: '1.0.0',
    executionProvider: 'cpu',
    decision: 'pass',
    stagesMs: { capture: 1.5, preprocess: 2, inference: 3 },
    verdictLatencyMs: 12.5,
    tracking: { mode: 'time', fired: false, confirmed: null, outcome: 'passed' },
    ...over,
  };
}

export const REJECT: Partial<PartRecord> = {
  verdict: 'defective',
  defectScore: 0.97,
  decision: 'reject',
  tracking: { mode: 'time', fired: true, firedMs: 2500, confirmed: true, outcome: 'fired' },
};
