import type { PartRecord } from '../domain/part.js';

/** Why an image was kept: every reject, every pass near the threshold, 1 in `record.sample_passes` other passes. */
export type KeepReason = 'reject' | 'near' | 'sample';

export interface ArchivePolicyConfig {
  near_threshold: number;
  sample_passes: number;
}

/**
 * Which parts' images the archive keeps. Stateful only for the sampling count: the passes that are neither near
 * the threshold nor rejected are counted, and every `sample_passes`-th of them is kept (a steady sample, not a
 * random one, so a test and an operator can predict it).
 */
export class ArchivePolicy {
  private otherPasses = 0;

  constructor(private readonly config: ArchivePolicyConfig) {}

  keep(record: Pick<PartRecord, 'decision' | 'defectScore' | 'threshold'>): KeepReason | null {
    if (record.decision === 'reject') return 'reject';
    const { defectScore, threshold } = record;
    if (defectScore !== undefined && threshold !== undefined) {
      if (Math.abs(defectScore - threshold) <= this.config.near_threshold) return 'near';
    }
    if (this.config.sample_passes === 0) return null;
    this.otherPasses += 1;
    return this.otherPasses % this.config.sample_passes === 0 ? 'sample' : null;
  }
}

const SIGNATURES: readonly { bytes: readonly number[]; ext: string; type: string }[] = [
  { bytes: [0xff, 0xd8, 0xff], ext: 'jpg', type: 'image/jpeg' },
  { bytes: [0x89, 0x50, 0x4e, 0x47], ext: 'png', type: 'image/png' },
  { bytes: [0x42, 0x4d], ext: 'bmp', type: 'image/bmp' },
  { bytes: [0x52, 0x49, 0x46, 0x46], ext: 'webp', type: 'image/webp' },
  { bytes: [0x49, 0x49, 0x2a, 0x00], ext: 'tif', type: 'image/tiff' },
  { bytes: [0x4d, 0x4d, 0x00, 0x2a], ext: 'tif', type: 'image/tiff' },
];

/** The file extension and content type of encoded image bytes, from their signature (bin for unknown ones). */
export function imageKind(data: Buffer): { ext: string; type: string } {
  const match = SIGNATURES.find((s) => s.bytes.every((b, i) => data[i] === b));
  return match ? { ext: match.ext, type: match.type } : { ext: 'bin', type: 'application/octet-stream' };
}

const TYPE_BY_EXT: Readonly<Record<string, string>> = Object.fromEntries(SIGNATURES.map((s) => [s.ext, s.type]));

export function contentTypeOf(ref: string): string {
  return TYPE_BY_EXT[ref.slice(ref.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
}

/**
 * The archive reference of a part's image: `YYYY-MM-DD/<part-id>_<verdict>_<score>.<ext>` (UTC day of the
 * trigger). A part without a model verdict is named by its fail-safe reason, a missing score `na`.
 */
export function imageRef(
  record: Pick<PartRecord, 'id' | 'triggeredAt' | 'verdict' | 'failsafeReason' | 'defectScore'>,
  data: Buffer,
): string {
  const day = record.triggeredAt.slice(0, 10);
  const verdict = record.verdict ?? record.failsafeReason ?? 'none';
  const score = record.defectScore === undefined ? 'na' : record.defectScore.toFixed(4);
  return `${day}/${record.id}_${verdict}_${score}.${imageKind(data).ext}`;
}
