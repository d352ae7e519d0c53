import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import type { PartRecord } from '../../src/domain/part.js';
import { Mosquitto } from '../unit/io/mqtt/helpers.js';
import { SparkplugObserver, metric, seqBreaks } from '../unit/io/mqtt/sparkplug/helpers.js';
import { labelledFolder, lineConfig, memoryLogger, tempDir } from './harness.js';

let dir: { path: string; remove: () => Promise<void> };
let images: string;
let broker: Mosquitto;

beforeAll(async () => {
  dir = await tempDir('itest-spb');
  images = await labelledFolder(dir.path, 3);
  broker = await Mosquitto.create(dir.path);
  await broker.start();
});

afterAll(async () => {
  await broker.kill();
  await dir.remove();
});

describe('the whole app in Sparkplug B mode, real model, real broker', () => {
  it('births with the model actually loaded, then one DDATA per part matching what the line decided', async () => {
    const observer = await SparkplugObserver.connect(broker.url, 'plant-it');
    const { logger } = memoryLogger();
    const loaded = lineConfig({
      images,
      mqttUrl: broker.url,
      outbox: `${dir.path}/outbox-spb`,
      mqtt: {
        url: broker.url,
        outbox_dir: `${dir.path}/outbox-spb`,
        reconnect_ms: 200,
        format: 'sparkplug_b',
        sparkplug: { group_id: 'plant-it', device_id: 'cam1' },
      },
    });
    const app = createApp({ loaded, logger, env: {}, maxParts: 6 });
    const parts: PartRecord[] = [];
    app.onPart((r) => parts.push(r));
    await app.start(new AbortController().signal);
    await app.done;
    await app.stop();
    await observer.waitFor('NDEATH', 1); // the clean stop's, after every DDATA
    await observer.close();

    const [nbirth] = observer.of('NBIRTH');
    expect(nbirth?.topic).toBe('spBv1.0/plant-it/NBIRTH/itest');
    expect(metric(nbirth, 'Properties/Run ID').value).toBe(app.summary().run_id);
    const [dbirth] = observer.of('DBIRTH');
    expect(dbirth?.topic).toBe('spBv1.0/plant-it/DBIRTH/itest/cam1');
    expect(metric(dbirth, 'Model/Name').value).toBe('casting-cnn');
    expect(metric(dbirth, 'Model/SHA256').value).toMatch(/^[0-9a-f]{64}$/);
    expect(metric(dbirth, 'Model/Execution Provider').value).toBe('cpu');
    expect(typeof metric(dbirth, 'Health/Healthy').value).toBe('boolean');

    const ddata = observer.of('DDATA');
    expect(ddata.map((m) => metric(m, 'Last Part/Seq').value)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(ddata.map((m) => metric(m, 'Last Part/Decision').value)).toEqual(parts.map((p) => p.decision));
    expect(ddata.map((m) => metric(m, 'Last Part/ID').value)).toEqual(parts.map((p) => p.id));
    expect(metric(ddata.at(-1), 'Counters/Parts').value).toBe(6);
    // Health is reported by exception: the last value reported (birth or data) is the line's: healthy.
    const health = [dbirth, ...ddata].flatMap((m) => m?.metrics.filter((x) => x.name === 'Health/Healthy') ?? []);
    expect(health.at(-1)?.value).toBe(true);
    expect(seqBreaks(observer.messages)).toEqual([]);
    expect(metric(observer.of('NDEATH')[0], 'bdSeq').value).toBe(metric(nbirth, 'bdSeq').value);
  });
});
