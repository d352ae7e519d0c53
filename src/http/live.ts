import type { Decision, PartRecord } from '../domain/part.js';
import type { CapturedImage } from '../domain/ports.js';

/** One part as the dashboard lists it. */
export interface PartView {
  id: string;
  seq: number;
  at: string;
  decision: Decision;
  verdict: string | null;
  score: number | null;
  reason: string | null;
  latencyMs: number | null;
  /** The image can be fetched from /api/parts/:id/image. */
  image: boolean;
}

interface Minute {
  minute: number;
  parts: number;
  ok: number;
}

export interface Counts {
  parts: number;
  ok: number;
  reject: number;
  /** Passed parts over all parts, percent; null before the first part. */
  yieldPercent: number | null;
  /** Parts per minute. */
  ratePerMin: number;
}

export interface LatencyPoint {
  /** Wall-clock seconds. */
  t: number;
  p50: number;
  p90: number;
  p99: number;
}

const RECENT_PARTS = 30;
const LATENCY_POINTS = 120;

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

function view(record: PartRecord, image: boolean): PartView {
  return {
    id: record.id,
    seq: record.seq,
    at: record.triggeredAt,
    decision: record.decision,
    verdict: record.verdict ?? null,
    score: record.defectScore ?? null,
    reason: record.failsafeReason ?? null,
    latencyMs: record.verdictLatencyMs ?? null,
    image,
  };
}

/**
 * What the dashboard shows that the daemon does not otherwise keep: the latest parts, the images of the latest
 * parts (without a line record), counts per minute for the last hour and the latency percentiles over time. Fed
 * by part events after they settled; nothing here is on the gate path.
 */
export class LiveView {
  private readonly recent: PartView[] = [];
  private readonly rejects: PartView[] = [];
  /**
   * Captured images by source, oldest first, waiting for their part record: a part settles only after it passed
   * the gate, by when a looping camera may have captured the same source again.
   */
  private readonly captured = new Map<string, Buffer[]>();
  private capturedCount = 0;
  private readonly images = new Map<string, Buffer>();
  private readonly minutes: Minute[] = [];
  private readonly latencies: number[] = [];
  private readonly points: LatencyPoint[] = [];
  private readonly startedMs = Date.now();

  constructor(private readonly deps: { keepImages: number; now?: () => number }) {}

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  image(captured: CapturedImage): void {
    if (this.deps.keepImages === 0) return;
    const queue = this.captured.get(captured.source) ?? [];
    queue.push(captured.data);
    this.captured.set(captured.source, queue);
    this.capturedCount += 1;
    // Images whose part never settles (a stop) must not pile up: drop the oldest source's oldest image.
    while (this.capturedCount > this.deps.keepImages * 2) this.dropOldestCapture();
  }

  private dropOldestCapture(): void {
    const [source, queue] = this.captured.entries().next().value ?? [];
    if (source === undefined || queue === undefined) return;
    queue.shift();
    this.capturedCount -= 1;
    if (queue.length === 0) this.captured.delete(source);
  }

  private takeCapture(source: string | undefined): Buffer | undefined {
    const queue = source === undefined ? undefined : this.captured.get(source);
    const data = queue?.shift();
    if (data === undefined || source === undefined) return undefined;
    this.capturedCount -= 1;
    if (queue?.length === 0) this.captured.delete(source);
    return data;
  }

  part(record: PartRecord): PartView {
    const data = this.takeCapture(record.source);
    if (data !== undefined) {
      this.images.set(record.id, data);
      trim(this.images, this.deps.keepImages);
    }
    const part = view(record, data !== undefined || record.imageRef !== undefined);
    pushCapped(this.recent, part, RECENT_PARTS);
    if (part.decision === 'reject') pushCapped(this.rejects, part, RECENT_PARTS);
    this.count(part);
    if (record.verdictLatencyMs !== undefined) this.latencies.push(record.verdictLatencyMs);
    return part;
  }

  /** The image kept in memory for a part, if it is still among the latest ones. */
  imageOf(partId: string): Buffer | undefined {
    return this.images.get(partId);
  }

  latestParts(): PartView[] {
    return [...this.recent].reverse();
  }

  latestRejects(): PartView[] {
    return [...this.rejects].reverse();
  }

  /** Closes one latency window (called every few seconds): p50/p90/p99 of the parts since the last call. */
  sampleLatency(): LatencyPoint | undefined {
    if (this.latencies.length === 0) return undefined;
    const sorted = this.latencies.splice(0).sort((a, b) => a - b);
    const point = {
      t: Math.round(this.now() / 1000),
      p50: percentile(sorted, 0.5),
      p90: percentile(sorted, 0.9),
      p99: percentile(sorted, 0.99),
    };
    pushCapped(this.points, point, LATENCY_POINTS);
    return point;
  }

  latencyHistory(): LatencyPoint[] {
    return [...this.points];
  }

  /** Parts, yield and rate over the last hour (a rolling window of minutes). */
  lastHour(): Counts {
    const since = Math.floor(this.now() / 60_000) - 59;
    const minutes = this.minutes.filter((m) => m.minute >= since);
    const parts = minutes.reduce((n, m) => n + m.parts, 0);
    const ok = minutes.reduce((n, m) => n + m.ok, 0);
    const spanMin = Math.max(1 / 60, Math.min(60, (this.now() - this.startedMs) / 60_000));
    return counts(parts, ok, spanMin);
  }

  /** Parts, yield and rate since the daemon started, from the run's own counters. */
  thisRun(parts: number, ok: number): Counts {
    return counts(parts, ok, Math.max(1 / 60, (this.now() - this.startedMs) / 60_000));
  }

  private count(part: PartView): void {
    const minute = Math.floor(this.now() / 60_000);
    let last = this.minutes.at(-1);
    if (last?.minute !== minute) {
      last = { minute, parts: 0, ok: 0 };
      pushCapped(this.minutes, last, 60);
    }
    last.parts += 1;
    if (part.decision === 'pass') last.ok += 1;
  }
}

function counts(parts: number, ok: number, minutes: number): Counts {
  return {
    parts,
    ok,
    reject: parts - ok,
    yieldPercent: parts === 0 ? null : (100 * ok) / parts,
    ratePerMin: parts / minutes,
  };
}

function pushCapped<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}

/** Drops the oldest entries of an insertion-ordered map beyond `max`. */
function trim(map: Map<string, Buffer>, max: number): void {
  for (const key of map.keys()) {
    if (map.size <= max) return;
    map.delete(key);
  }
}
