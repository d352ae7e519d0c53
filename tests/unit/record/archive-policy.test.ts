import { describe, expect, it } from 'vitest';
import { ArchivePolicy, contentTypeOf, imageKind, imageRef } from '../../../src/record/archive-policy.js';
import { partRecord, REJECT } from './parts.js';

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]);
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a]);

describe('ArchivePolicy', () => {
  it('keeps every reject, fail-safe ones without a score included', () => {
    const policy = new ArchivePolicy({ near_threshold: 0, sample_passes: 0 });
    expect(policy.keep(partRecord(1, REJECT))).toBe('reject');
    const late = partRecord(2, { decision: 'reject', failsafeReason: 'late', verdict: 'ok', defectScore: 0.01 });
    expect(policy.keep(late)).toBe('reject');
    const noScore = partRecord(3, { decision: 'reject', verdict: undefined, defectScore: undefined });
    expect(policy.keep(noScore)).toBe('reject');
  });

  it('keeps a pass within near_threshold of the threshold, on either side, and no pass beyond it', () => {
    const policy = new ArchivePolicy({ near_threshold: 0.1, sample_passes: 0 });
    expect(policy.keep(partRecord(1, { defectScore: 0.4 }))).toBe('near');
    expect(policy.keep(partRecord(2, { defectScore: 0.45, threshold: 0.5 }))).toBe('near');
    // A pass above the threshold exists when a fail-safe rule passed it; equally near.
    expect(policy.keep(partRecord(3, { defectScore: 0.55 }))).toBe('near');
    expect(policy.keep(partRecord(4, { defectScore: 0.39 }))).toBeNull();
    expect(policy.keep(partRecord(5, { defectScore: 0.01 }))).toBeNull();
  });

  it('keeps 1 in sample_passes of the other passes, counting only those', () => {
    const policy = new ArchivePolicy({ near_threshold: 0.1, sample_passes: 3 });
    const kept = [];
    for (let seq = 1; seq <= 9; seq += 1) {
      // Rejects and near passes in between do not advance the sampling count.
      expect(policy.keep(partRecord(100 + seq, REJECT))).toBe('reject');
      expect(policy.keep(partRecord(200 + seq, { defectScore: 0.45 }))).toBe('near');
      if (policy.keep(partRecord(seq, { defectScore: 0.02 })) === 'sample') kept.push(seq);
    }
    expect(kept).toEqual([3, 6, 9]);
  });

  it('samples no other pass with sample_passes 0, and every one with 1', () => {
    const none = new ArchivePolicy({ near_threshold: 0, sample_passes: 0 });
    const all = new ArchivePolicy({ near_threshold: 0, sample_passes: 1 });
    for (let seq = 1; seq <= 5; seq += 1) {
      expect(none.keep(partRecord(seq))).toBeNull();
      expect(all.keep(partRecord(seq))).toBe('sample');
    }
  });
});

describe('image references', () => {
  it('name the day, the part id, the verdict and the score, with the extension of the bytes', () => {
    expect(imageRef(partRecord(7, REJECT), JPEG)).toBe('2026-12-03/run1-7_defective_0.9700.jpg');
    expect(imageRef(partRecord(8, { defectScore: 0.123456 }), PNG)).toBe('2026-12-03/run1-8_ok_0.1235.png');
    const failsafe = partRecord(9, { verdict: undefined, defectScore: undefined, failsafeReason: 'decode_error' });
    expect(imageRef(failsafe, Buffer.from('junk'))).toBe('2026-12-03/run1-9_decode_error_na.bin');
  });

  it('map signatures to content types and back', () => {
    expect(imageKind(JPEG)).toEqual({ ext: 'jpg', type: 'image/jpeg' });
    expect(contentTypeOf('2026-12-03/x_ok_0.1.png')).toBe('image/png');
    expect(contentTypeOf('x.bin')).toBe('application/octet-stream');
  });
});
