import { describe, expect, it } from 'vitest';
import { ComponentHealth } from '../../../src/app/health.js';
import { PartSink, type PartRecorder } from '../../../src/app/parts.js';
import type { PartRecord } from '../../../src/domain/part.js';
import type { Mqtt } from '../../../src/io/mqtt/index.js';
import { memoryLogger } from '../../integration/harness.js';
import { partRecord } from '../record/parts.js';

describe('PartSink', () => {
  it('gives each part to the line record before MQTT, so the published verdict names the archived image', () => {
    const published: (string | undefined)[] = [];
    const recorder: PartRecorder = {
      part: (record, image) => {
        if (image !== undefined) record.imageRef = `2026-12-03/${record.id}.jpg`;
      },
    };
    const mqtt = { publishPart: (record: PartRecord) => published.push(record.imageRef) } as unknown as Mqtt;
    const sink = new PartSink({
      logger: memoryLogger().logger,
      maxParts: undefined,
      health: new ComponentHealth(),
      outlets: () => ({ record: recorder, mqtt }),
    });
    sink.record(partRecord(1), { data: Buffer.from([0xff, 0xd8, 0xff]), source: 'cam' });
    sink.record(partRecord(2), undefined);
    expect(published).toEqual(['2026-12-03/run1-1.jpg', undefined]);
  });
});
