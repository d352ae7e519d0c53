/**
 * Fixed-memory latency histogram for run summaries that may last months: 0.1 ms buckets below 1 s,
 * 1 ms buckets up to 60 s, one overflow bucket. Percentiles are nearest-rank, reported as the bucket's
 * upper edge (so never optimistic by more than one bucket).
 */
export class LatencyHistogram {
  private static readonly FINE_MS = 0.1;
  private static readonly FINE_LIMIT_MS = 1000;
  private static readonly COARSE_MS = 1;
  private static readonly COARSE_LIMIT_MS = 60_000;
  private readonly fineBuckets = Math.round(LatencyHistogram.FINE_LIMIT_MS / LatencyHistogram.FINE_MS);
  private readonly counts = new Uint32Array(
    this.fineBuckets + (LatencyHistogram.COARSE_LIMIT_MS - LatencyHistogram.FINE_LIMIT_MS) / LatencyHistogram.COARSE_MS + 1,
  );
  private n = 0;
  private maxMs = Number.NEGATIVE_INFINITY;

  get count(): number {
    return this.n;
  }

  record(ms: number): void {
    const v = Math.max(0, ms);
    let i: number;
    // Multiply by the inverse: 0.1 is not exact in binary and v / 0.1 can land just below a bucket edge.
    if (v < LatencyHistogram.FINE_LIMIT_MS) i = Math.floor(v * (1 / LatencyHistogram.FINE_MS));
    else if (v < LatencyHistogram.COARSE_LIMIT_MS) {
      i = this.fineBuckets + Math.floor((v - LatencyHistogram.FINE_LIMIT_MS) / LatencyHistogram.COARSE_MS);
    } else i = this.counts.length - 1;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.n++;
    if (v > this.maxMs) this.maxMs = v;
  }

  /** Nearest-rank percentile (p in (0, 100]); null when empty. */
  percentile(p: number): number | null {
    if (this.n === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) return Math.min(this.upperEdge(i), this.maxMs);
    }
    return this.maxMs;
  }

  max(): number | null {
    return this.n === 0 ? null : this.maxMs;
  }

  private upperEdge(i: number): number {
    if (i < this.fineBuckets) return Math.round((i + 1) * LatencyHistogram.FINE_MS * 10) / 10;
    if (i < this.counts.length - 1) return LatencyHistogram.FINE_LIMIT_MS + (i - this.fineBuckets + 1) * LatencyHistogram.COARSE_MS;
    return this.maxMs;
  }
}
