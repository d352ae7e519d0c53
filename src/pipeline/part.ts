import type { Decision, FailsafeReason, PartRecord } from '../domain/part.js';
import type { CapturedImage, Inspection } from '../domain/ports.js';
import { type ErrorCode, LinesideError } from '../errors.js';

/**
 * Where a part is, from trigger to completion: one phase per part instead of a handful of flags that could
 * disagree. Every move goes through Part.moveTo, which refuses one the table below does not have.
 * - new: on the belt with its gate moment (time or count) set; not inspected yet.
 * - capturing, inspecting: holds one of pipeline.max_in_flight inspection slots.
 * - decided: the decision is made; waiting for the gate moment (time mode hands a reject to the gate at once).
 * - at_gate: a reject requested from the gate controller, not fired yet.
 * - awaiting_confirm: the gate fired; waiting for the confirm sensor (confirm.window_ms).
 * - settled: complete; the record has been emitted and the part forgotten.
 */
export type PartPhase = 'new' | 'capturing' | 'inspecting' | 'decided' | 'at_gate' | 'awaiting_confirm' | 'settled';

const NEXT: Readonly<Record<PartPhase, readonly PartPhase[]>> = {
  // A free slot; or decided at once: draining (shutdown), no slot (overrun), encoder stalled.
  new: ['capturing', 'decided'],
  // The image is in; or a fail-safe decision: camera error or timeout, late, shutdown, encoder stalled.
  capturing: ['inspecting', 'decided'],
  // The verdict, or a fail-safe decision.
  inspecting: ['decided'],
  // A reject is requested; or settled: a pass went by, the gate was held in reject for it, the line stopped.
  decided: ['at_gate', 'settled'],
  // Fired with a confirm sensor; settled: fired without one, the write failed, the line stopped; back to
  // decided when the gate refused the request (disarmed).
  at_gate: ['awaiting_confirm', 'settled', 'decided'],
  // Confirmed, the window closed, or the line stopped.
  awaiting_confirm: ['settled'],
  settled: [],
};

/** An error on the part's record: its stable code and message. */
export interface PartFault {
  code: ErrorCode;
  message: string;
}

/** Why a part is rejected without (or despite) a model verdict, and the error behind it. */
export interface Failsafe {
  reason: FailsafeReason;
  fault?: PartFault;
}

/** One part on the line: its record (what gets published), its phase, and what to cancel when it settles. */
export class Part {
  private current: PartPhase = 'new';
  /** Aborted when the part is decided without a verdict: the camera and the model stop working for it. */
  readonly abort = new AbortController();
  private readonly timers: (() => void)[] = [];
  /** The camera's image, kept until the part is complete and handed out with its record. */
  image: CapturedImage | undefined;

  constructor(readonly record: PartRecord) {}

  get phase(): PartPhase {
    return this.current;
  }

  /** No decision yet: the gate does not know what to do with it. */
  get undecided(): boolean {
    return this.current === 'new' || this.current === 'capturing' || this.current === 'inspecting';
  }

  /** Holds an inspection slot (pipeline.max_in_flight). */
  get holdsSlot(): boolean {
    return this.current === 'capturing' || this.current === 'inspecting';
  }

  get decision(): Decision {
    return this.record.decision;
  }

  /** What the camera delivered: recorded whatever happens to the part next. */
  captured(image: CapturedImage, captureMs: number): void {
    this.image = image;
    const rec = this.record;
    rec.stagesMs.capture = captureMs;
    rec.source = image.source;
    if (image.label !== undefined) rec.label = image.label;
  }

  /** The model's answer. */
  inspected(inspection: Inspection): void {
    const rec = this.record;
    rec.verdict = inspection.verdict;
    rec.defectScore = inspection.defectScore;
    rec.threshold = inspection.threshold;
    rec.stagesMs.preprocess = inspection.preprocessMs;
    rec.stagesMs.inference = inspection.inferenceMs;
    if (inspection.queueMs !== undefined) rec.stagesMs.queue = inspection.queueMs;
    if (inspection.transferMs !== undefined) rec.stagesMs.transfer = inspection.transferMs;
  }

  /** Writes the decision into the record (the phase moves through PartTable.move). */
  recordDecision(decision: Decision, nowMs: number, failsafe: Failsafe | undefined): void {
    const rec = this.record;
    rec.decision = decision;
    rec.verdictLatencyMs = nowMs - rec.triggerMs;
    if (failsafe === undefined) return;
    rec.failsafeReason = failsafe.reason;
    if (failsafe.fault === undefined) return;
    rec.errorCode = failsafe.fault.code;
    rec.errorMessage = failsafe.fault.message;
  }

  /** Throws LS_INTERNAL on a move the state machine above does not have: a bug, not a condition to handle. */
  moveTo(next: PartPhase): void {
    if (!NEXT[this.current].includes(next)) {
      throw new LinesideError('LS_INTERNAL', `part ${this.record.id}: no move from ${this.current} to ${next}`);
    }
    this.current = next;
  }

  /** A timer (deadline, gate moment, confirm window) cancelled when the part settles or changes course. */
  addTimer(cancel: () => void): void {
    this.timers.push(cancel);
  }

  cancelTimers(): void {
    for (const cancel of this.timers.splice(0)) cancel();
  }
}

/** The unsettled parts in trigger order, and how many of them hold an inspection slot. */
export class PartTable {
  private readonly bySeq = new Map<number, Part>();
  private slots = 0;

  get size(): number {
    return this.bySeq.size;
  }

  /** Parts being captured or inspected now. */
  get inFlight(): number {
    return this.slots;
  }

  add(part: Part): void {
    this.bySeq.set(part.record.seq, part);
  }

  get(seq: number): Part | undefined {
    return this.bySeq.get(seq);
  }

  /** A snapshot, so that callers may settle parts while they walk it. */
  snapshot(): Part[] {
    return [...this.bySeq.values()];
  }

  some(test: (part: Part) => boolean): boolean {
    for (const part of this.bySeq.values()) if (test(part)) return true;
    return false;
  }

  /** Moves a part to its next phase, keeping the slot count; a settled part leaves the table. */
  move(part: Part, next: PartPhase): void {
    const held = part.holdsSlot;
    part.moveTo(next);
    if (held && !part.holdsSlot) this.slots--;
    if (!held && part.holdsSlot) this.slots++;
    if (next === 'settled') this.bySeq.delete(part.record.seq);
  }
}

export interface NewRecordFacts {
  runId: string;
  seq: number;
  mode: 'time' | 'encoder';
  /** The trigger edge's timestamp (monotonic ms). */
  triggerMs: number;
  /** Monotonic and wall-clock now, to date the trigger in wall-clock time. */
  nowMs: number;
  wallNowMs: number;
  model: { version: string; executionProvider: string; name?: string; sha256?: string } | undefined;
}

/** A new part's record: rejected until a decision says otherwise, so a record that escapes early is never a pass. */
export function newPartRecord(facts: NewRecordFacts): PartRecord {
  const { runId, seq, model } = facts;
  return {
    seq,
    id: `${runId}-${seq}`,
    runId,
    triggerMs: facts.triggerMs,
    triggeredAt: new Date(facts.wallNowMs - (facts.nowMs - facts.triggerMs)).toISOString(),
    decision: 'reject',
    stagesMs: {},
    tracking: { mode: facts.mode, fired: false, confirmed: null },
    ...(model === undefined ? {} : { modelVersion: model.version, executionProvider: model.executionProvider }),
    ...(model?.name === undefined ? {} : { modelName: model.name }),
    ...(model?.sha256 === undefined ? {} : { modelSha256: model.sha256 }),
  };
}
