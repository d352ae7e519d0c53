import { FAILSAFE_REASONS, type FailsafeReason, type PartRecord } from '../domain/part.js';
import type { AlarmKind } from './alarms.js';
import { LatencyHistogram, type Percentiles } from './latency-histogram.js';

/** Run summary. Counters only grow; latencies come from a fixed-memory histogram. */
export interface LineSummary {
  runId: string;
  /** Completed parts. */
  parts: number;
  /** Completed parts let pass. */
  ok: number;
  /** Completed parts rejected (model verdict or fail-safe). */
  reject: number;
  failsafe: Record<FailsafeReason, number>;
  /** Gate activations (a merged pulse counts once). */
  gatePulses: number;
  /** Ground truth known (folder camera). */
  labelled: number;
  /** Label 'defective' but decision 'pass'. */
  escapes: number;
  /** Label 'ok' but decision 'reject'. */
  falseRejects: number;
  /** Trigger to model verdict (fail-safe decisions excluded). */
  latencyMs: Percentiles;
  /** Actual minus planned gate activation. */
  gateLatenessMs: Percentiles;
  /** Parts whose gate activation came more than gate.max_lateness_ms late (tracking.outcome 'fired_late'). */
  gateLate: number;
  triggers: {
    accepted: number;
    /** Closer than trigger.min_spacing_ms to the previous part: bounce or a double trigger, ignored. */
    double: number;
    /** Arrived while the line was not running (starting, stopped): the part went untracked. Parts seen
     * while draining are tracked and rejected 'shutdown'. */
    missed: number;
    /** Arrived while the previous part was still being captured (accepted as a new part). */
    overlapping: number;
  };
  confirm: { confirmed: number; unconfirmed: number; unexpected: number };
  alarms: { raised: number; active: number; byKind: Record<AlarmKind, number> };
  /** Rejects whose gate write failed (tracking.outcome 'not_fired'): they may have passed. */
  gateNotFired: number;
  /**
   * Parts whose gate moment came after the gate went to safe state at shutdown, and their ids: the parts to
   * quarantine. rejectsNotFired: those of them that were rejects the safe state let pass (energised_position
   * reject).
   */
  safeState: { parts: number; rejectsNotFired: number; ids: string[] };
}

/** What the summary takes from the line's other parts rather than counting itself. */
export interface SummaryFacts {
  runId: string;
  gatePulses: number;
  alarms: LineSummary['alarms'];
}

/** The run's counters and latency histograms. Counters only grow. */
export class LineStats {
  readonly triggers = { accepted: 0, double: 0, missed: 0, overlapping: 0 };
  readonly confirm = { confirmed: 0, unconfirmed: 0, unexpected: 0 };
  private readonly parts = { parts: 0, ok: 0, reject: 0, labelled: 0, escapes: 0, falseRejects: 0 };
  private readonly safeState = { parts: 0, rejectsNotFired: 0, ids: [] as string[] };
  private gateLate = 0;
  private gateNotFired = 0;
  private readonly failsafe = Object.fromEntries(FAILSAFE_REASONS.map((r) => [r, 0])) as Record<FailsafeReason, number>;
  private readonly latency = new LatencyHistogram();
  private readonly gateLateness = new LatencyHistogram();

  /** A decision: a model verdict adds to the latency histogram, a fail-safe one to its reason's counter. */
  decided(record: PartRecord): void {
    if (record.failsafeReason !== undefined) this.failsafe[record.failsafeReason]++;
    else if (record.verdictLatencyMs !== undefined) this.latency.record(record.verdictLatencyMs);
  }

  /** A decision overturned by a fail-safe reason after it was made (a pass held in reject by an encoder stall). */
  overturned(reason: FailsafeReason): void {
    this.failsafe[reason]++;
  }

  gateFired(latenessMs: number, late: boolean): void {
    this.gateLateness.record(latenessMs);
    if (late) this.gateLate++;
  }

  /** The line stopped before the gate acted for this part: the gate's safe state decides what happens to it. */
  leftToSafeState(record: PartRecord, safeStatePasses: boolean): void {
    this.safeState.parts++;
    this.safeState.ids.push(record.id);
    if (record.decision === 'reject' && safeStatePasses) this.safeState.rejectsNotFired++;
  }

  /** The write that should have opened the gate for this reject failed. */
  notFired(): void {
    this.gateNotFired++;
  }

  /** A completed part. */
  settled(record: PartRecord): void {
    const c = this.parts;
    c.parts++;
    if (record.decision === 'pass') c.ok++;
    else c.reject++;
    if (record.label === undefined) return;
    c.labelled++;
    if (record.label === 'defective' && record.decision === 'pass') c.escapes++;
    if (record.label === 'ok' && record.decision === 'reject') c.falseRejects++;
  }

  summary(facts: SummaryFacts): LineSummary {
    const c = this.parts;
    return {
      runId: facts.runId,
      parts: c.parts,
      ok: c.ok,
      reject: c.reject,
      failsafe: { ...this.failsafe },
      gatePulses: facts.gatePulses,
      labelled: c.labelled,
      escapes: c.escapes,
      falseRejects: c.falseRejects,
      latencyMs: this.latency.percentiles(),
      gateLatenessMs: this.gateLateness.percentiles(),
      gateLate: this.gateLate,
      gateNotFired: this.gateNotFired,
      triggers: { ...this.triggers },
      confirm: { ...this.confirm },
      alarms: facts.alarms,
      safeState: { ...this.safeState, ids: [...this.safeState.ids] },
    };
  }
}
