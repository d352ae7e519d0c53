import type { PartRecord } from '../domain/part.js';
import type { CapturedImage } from '../domain/ports.js';
import type { Mqtt } from '../io/mqtt/index.js';
import type { Logger } from '../log.js';
import type { ComponentHealth } from './health.js';

export type PartListener = (record: PartRecord, image: CapturedImage | undefined) => void;

/** The line record's per-part entry point (src/record LineRecord.part): synchronous, never throws, never waits. */
export interface PartRecorder {
  part(record: PartRecord, image: CapturedImage | undefined): void;
}

export interface PartSinkDeps {
  logger: Logger;
  maxParts: number | undefined;
  health: ComponentHealth;
  /** Where verdicts go once the stages built them: the line record first (it sets imageRef), then MQTT. */
  outlets: () => { record: PartRecorder | undefined; mqtt: Mqtt | undefined };
}

/**
 * Where each completed part goes: one log line, the line record (history row, image archived: it sets imageRef, so
 * it comes before the publish), the verdict queued for MQTT, the component health, the app's listeners, and the
 * --max-parts count. Nothing here waits for disk or broker.
 */
export class PartSink {
  readonly done: Promise<void>;
  private readonly listeners = new Set<PartListener>();
  private completed = 0;
  private resolveDone: () => void = () => undefined;

  constructor(private readonly deps: PartSinkDeps) {
    this.done = new Promise<void>((resolve) => {
      this.resolveDone = resolve;
    });
  }

  record(record: PartRecord, image?: CapturedImage): void {
    const { record: recorder, mqtt } = this.deps.outlets();
    // The record first: it sets the archived image's reference, which the verdict carries.
    recorder?.part(record, image);
    // Stored in the outbox before the line is logged: a part's log line means its verdict survives a crash.
    mqtt?.publishPart(record);
    logPart(this.deps.logger, record);
    this.deps.health.record(record);
    for (const listener of this.listeners) listener(record, image);
    this.completed += 1;
    if (this.deps.maxParts !== undefined && this.completed >= this.deps.maxParts) this.resolveDone();
  }

  onPart(listener: PartListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** One info line per part (id, verdict, score, ms); a warning for a fail-safe reject. */
function logPart(log: Logger, record: PartRecord): void {
  const fields = {
    part: record.id,
    seq: record.seq,
    verdict: record.verdict ?? null,
    decision: record.decision,
    score: record.defectScore === undefined ? null : Number(record.defectScore.toFixed(4)),
    ms: record.verdictLatencyMs === undefined ? null : Number(record.verdictLatencyMs.toFixed(1)),
    ...(record.failsafeReason
      ? { failsafe: record.failsafeReason, code: record.errorCode, err: record.errorMessage }
      : {}),
    ...(record.label ? { label: record.label } : {}),
    fired: record.tracking.fired,
    ...(record.tracking.confirmed === null ? {} : { confirmed: record.tracking.confirmed }),
  };
  if (record.tracking.outcome === 'not_fired') {
    log.error(
      { ...fields, code: 'LS_GATE_NOT_FIRED', cause: record.errorCode },
      `part ${record.seq} reject NOT fired: ${record.errorMessage ?? ''}`,
    );
  } else if (record.failsafeReason) log.warn(fields, `part ${record.seq} rejected fail-safe: ${record.failsafeReason}`);
  else log.info(fields, `part ${record.seq} ${record.decision}`);
}
