import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mqttSection, type MqttConfig } from '../../../../../src/config/sections/mqtt.js';
import { createMqtt, type Mqtt } from '../../../../../src/io/mqtt/index.js';
import { decisionTimeMs } from '../../../../../src/io/mqtt/sparkplug/metrics.js';
import { BDSEQ_FILE } from '../../../../../src/io/mqtt/sparkplug/edge.js';
import type { ModelInfo } from '../../../../../src/domain/ports.js';
import { waitFor, yieldTurns } from '../../../../wait.js';
import { GatedProxy, Mosquitto, makeRecord, silentLogger, tempDir } from '../helpers.js';
import { SparkplugObserver, metric, seqBreaks, type SpMessage } from './helpers.js';

const signal = new AbortController().signal;
const LINE = 'cell9';
const MODEL: ModelInfo = {
  name: 'casting-cnn',
  version: '1.0.0',
  sha256: 'ab'.repeat(32),
  threshold: 0.042,
  executionProvider: 'cpu',
  requestedProviders: ['cpu'],
};

describe('Sparkplug B against a real mosquitto 2.0 broker', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let broker: Mosquitto;
  const cleanups: (() => Promise<void>)[] = [];
  let count = 0;

  beforeAll(async () => {
    dir = await tempDir('spb');
    broker = await Mosquitto.create(dir.path);
    await broker.start();
  });
  afterAll(async () => {
    await broker.kill();
    await dir.remove();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A config of its own per test: its own group (so retained STATE and messages of other tests stay apart) and outbox. */
  function config(overrides: Record<string, unknown> = {}, sparkplug: Record<string, unknown> = {}): MqttConfig {
    count++;
    return mqttSection.parse({
      url: broker.url,
      reconnect_ms: 100,
      outbox_dir: `outbox-${count}`,
      format: 'sparkplug_b',
      sparkplug: { group_id: `plant${count}`, ...sparkplug },
      ...overrides,
    });
  }

  async function started(cfg: MqttConfig, runId = 'run-sp'): Promise<Mqtt> {
    const mqtt = createMqtt(cfg, {
      logger: silentLogger(),
      lineId: LINE,
      baseDir: dir.path,
      env: {},
      runId,
      station: { model: () => MODEL, healthy: () => true },
    });
    await mqtt.start(signal);
    cleanups.push(() => mqtt.stop());
    return mqtt;
  }

  async function observe(cfg: MqttConfig): Promise<SparkplugObserver> {
    const observer = await SparkplugObserver.connect(broker.url, cfg.sparkplug.group_id);
    cleanups.push(() => observer.close());
    return observer;
  }

  async function gated(): Promise<GatedProxy> {
    const relay = new GatedProxy(() => broker.port);
    await relay.start();
    relay.open = true;
    cleanups.push(() => relay.stop());
    return relay;
  }

  const partSeqs = (messages: SpMessage[]): number[] =>
    messages.filter((m) => m.type === 'DDATA').map((m) => metric(m, 'Last Part/Seq').value as number);

  it('sends NBIRTH (seq 0, bdSeq) and DBIRTH with every metric, then one DDATA per part with its decision time', async () => {
    const cfg = config();
    const observer = await observe(cfg);
    const mqtt = await started(cfg);
    const [dbirth] = await observer.waitFor('DBIRTH', 1);
    const [nbirth] = observer.of('NBIRTH');
    expect(nbirth?.topic).toBe(`spBv1.0/${cfg.sparkplug.group_id}/NBIRTH/${LINE}`);
    expect(nbirth?.seq).toBe(0);
    expect(metric(nbirth, 'bdSeq')).toMatchObject({ type: 'UInt64', value: 0 });
    expect(metric(nbirth, 'Node Control/Rebirth')).toMatchObject({ type: 'Boolean', value: false });
    expect(metric(nbirth, 'Properties/Run ID').value).toBe('run-sp');
    expect(dbirth?.topic).toBe(`spBv1.0/${cfg.sparkplug.group_id}/DBIRTH/${LINE}/station`);
    expect(dbirth?.seq).toBe(1);
    expect(metric(dbirth, 'Model/Name').value).toBe('casting-cnn');
    expect(metric(dbirth, 'Model/Version').value).toBe('1.0.0');
    expect(metric(dbirth, 'Model/SHA256').value).toBe('ab'.repeat(32));
    expect(metric(dbirth, 'Model/Execution Provider').value).toBe('cpu');
    expect(metric(dbirth, 'Health/Healthy').value).toBe(true);
    expect(metric(dbirth, 'Counters/Parts')).toMatchObject({ type: 'UInt64', value: 0 });
    expect(metric(dbirth, 'Counters/Reason/camera_timeout').value).toBe(0);
    expect(metric(dbirth, 'Alarms/consecutive_rejects/State').value).toBe('none');
    expect(metric(dbirth, 'Last Part/ID').value).toBeNull();

    const records = [1, 2, 3].map((seq) => makeRecord(seq, 'run-sp'));
    records[1] = makeRecord(2, 'run-sp', {
      decision: 'reject',
      verdict: undefined,
      defectScore: undefined,
      failsafeReason: 'camera_timeout',
      errorCode: 'LS_CAMERA_TIMEOUT',
    });
    for (const record of records) mqtt.publishPart(record);
    const ddata = await observer.waitFor('DDATA', 3);
    expect(ddata.map((m) => m.seq)).toEqual([2, 3, 4]);
    expect(partSeqs(ddata)).toEqual([1, 2, 3]);
    const second = ddata[1];
    expect(metric(second, 'Last Part/ID').value).toBe('run-sp-2');
    expect(metric(second, 'Last Part/Decision').value).toBe('reject');
    expect(metric(second, 'Last Part/Reason').value).toBe('camera_timeout');
    expect(metric(second, 'Last Part/Defect Score').value).toBeNull();
    expect(metric(second, 'Counters/Reason/camera_timeout').value).toBe(1);
    expect(metric(second, 'Last Part/ID').timestamp).toBe(decisionTimeMs(records[1], 0));
    expect(metric(ddata[2], 'Counters/Reason/model').value).toBe(1); // part 3: the model rejected it
    expect(metric(ddata[2], 'Counters/Parts').value).toBe(3);
    expect(metric(ddata[2], 'Counters/Decision/reject').value).toBe(2);
    expect(metric(ddata[2], 'Yield').value).toBeCloseTo(1 / 3);
    expect(ddata.flatMap((m) => m.metrics).some((m) => m.isHistorical)).toBe(false);
    await waitFor(() => mqtt.state().queued === 0, 5000, 'outbox empty');
  });

  it('seq runs 0..255 and wraps to 0 without a gap across NBIRTH, DBIRTH and 300 DDATA', async () => {
    const cfg = config();
    const observer = await observe(cfg);
    const mqtt = await started(cfg);
    await observer.waitFor('DBIRTH', 1);
    for (let seq = 1; seq <= 300; seq++) {
      mqtt.publishPart(makeRecord(seq, 'run-sp'));
      if (seq % 20 === 0) await yieldTurns();
    }
    await observer.waitFor('DDATA', 300, 30_000);
    expect(seqBreaks(observer.messages)).toEqual([]);
    expect(observer.of('DDATA').at(-1)?.seq).toBe((300 + 1) % 256);
    expect(partSeqs(observer.messages)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
  });

  it('the broker publishes NDEATH (the will) with the bdSeq of the NBIRTH when the connection dies; the next session has bdSeq + 1 and sends what waited as historical', async () => {
    const cfg = config();
    const relay = await gated();
    const observer = await observe(cfg);
    const mqtt = await started({ ...cfg, url: relay.url });
    await observer.waitFor('DBIRTH', 1);
    mqtt.publishPart(makeRecord(1, 'run-sp'));
    await observer.waitFor('DDATA', 1);
    relay.cut();
    const [death] = await observer.waitFor('NDEATH', 1);
    expect(metric(death, 'bdSeq').value).toBe(metric(observer.of('NBIRTH')[0], 'bdSeq').value);
    expect(death?.seq).toBeUndefined();

    await waitFor(() => !mqtt.state().connected, 10_000, 'the cut noticed');
    const held = [2, 3].map((seq) => makeRecord(seq, 'run-sp'));
    for (const record of held) mqtt.publishPart(record);
    relay.open = true;
    await observer.waitFor('DDATA', 3);
    const births = observer.of('NBIRTH');
    expect(births).toHaveLength(2);
    expect(metric(births[1], 'bdSeq').value).toBe((metric(births[0], 'bdSeq').value as number) + 1);
    expect(seqBreaks(observer.messages)).toEqual([]);
    const replayed = observer.of('DDATA').slice(1);
    expect(partSeqs(replayed)).toEqual([2, 3]);
    for (const [i, message] of replayed.entries()) {
      expect(message.metrics.every((m) => m.isHistorical)).toBe(true);
      expect(metric(message, 'Last Part/ID').timestamp).toBe(decisionTimeMs(held[i]!, 0));
    }
  });

  it('keeps bdSeq and seq continuous across a broker restart, and loses no part (those on the wire are re-sent after the new births)', async () => {
    const cfg = config();
    const relay = await gated();
    const observer = await observe(cfg);
    const mqtt = await started({ ...cfg, url: relay.url });
    await observer.waitFor('DBIRTH', 1);
    for (let seq = 1; seq <= 1000; seq++) mqtt.publishPart(makeRecord(seq, 'run-sp'));
    await observer.waitFor('DDATA', 20);
    // The link drops mid-stream (messages in flight, others queued), then the broker restarts. The relay is cut
    // first so that the broker, still up, delivers all it acknowledged to the observer before it is killed.
    relay.cut();
    await waitFor(() => !mqtt.state().connected, 10_000, 'the cut noticed');
    expect(mqtt.state().sent).toBeLessThan(1000);
    await observer.waitFor('NDEATH', 1);
    await observer.settle();
    await broker.kill();
    for (let seq = 1001; seq <= 1020; seq++) mqtt.publishPart(makeRecord(seq, 'run-sp'));
    await broker.start();
    const after = await SparkplugObserver.connect(broker.url, cfg.sparkplug.group_id);
    cleanups.push(() => after.close());
    relay.open = true;
    await waitFor(() => mqtt.state().queued === 0 && mqtt.state().connected, 20_000, 'outbox drained');
    await after.settle();
    const firstBdSeq = metric(observer.of('NBIRTH')[0], 'bdSeq').value as number;
    expect(metric(observer.of('NDEATH')[0], 'bdSeq').value).toBe(firstBdSeq);
    expect(metric(after.of('NBIRTH')[0], 'bdSeq').value).toBe(firstBdSeq + 1);
    expect(after.messages[0]?.type).toBe('NBIRTH'); // nothing of the old session is resent before it
    expect(seqBreaks(observer.messages)).toEqual([]);
    expect(seqBreaks(after.messages)).toEqual([]);
    const seqs = new Set([...partSeqs(observer.messages), ...partSeqs(after.messages)]);
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 1020 }, (_, i) => i + 1));
    // Everything sent after the restart was made in the previous session: historical.
    expect(after.of('DDATA').length).toBeGreaterThan(20);
    expect(after.of('DDATA').every((m) => m.metrics.every((x) => x.isHistorical))).toBe(true);
  });

  it('bdSeq goes on across a daemon restart (kept beside the outbox); a clean stop publishes NDEATH with it', async () => {
    const cfg = config();
    const observer = await observe(cfg);
    const first = createMqtt(cfg, { logger: silentLogger(), lineId: LINE, baseDir: dir.path, env: {}, runId: 'run-a' });
    await first.start(signal);
    await observer.waitFor('DBIRTH', 1);
    await first.stop();
    const [death] = await observer.waitFor('NDEATH', 1);
    const bdSeq = metric(observer.of('NBIRTH')[0], 'bdSeq').value as number;
    expect(metric(death, 'bdSeq').value).toBe(bdSeq);
    const saved = JSON.parse(await readFile(join(dir.path, cfg.outbox_dir, BDSEQ_FILE), 'utf8')) as { bdSeq: number };
    expect(saved.bdSeq).toBe(bdSeq);

    await started(cfg, 'run-b');
    await observer.waitFor('NBIRTH', 2);
    const second = observer.of('NBIRTH')[1];
    expect(metric(second, 'bdSeq').value).toBe(bdSeq + 1);
    expect(metric(second, 'Properties/Run ID').value).toBe('run-b');
    expect(second?.seq).toBe(0);
  });

  it('answers NCMD Node Control/Rebirth with NBIRTH (seq 0, same bdSeq) and DBIRTH carrying the current values', async () => {
    const cfg = config();
    const observer = await observe(cfg);
    const mqtt = await started(cfg);
    await observer.waitFor('DBIRTH', 1);
    for (let seq = 1; seq <= 5; seq++) mqtt.publishPart(makeRecord(seq, 'run-sp'));
    await observer.waitFor('DDATA', 5);
    await observer.requestRebirth(LINE);
    const dbirths = await observer.waitFor('DBIRTH', 2);
    const births = observer.of('NBIRTH');
    expect(births[1]?.seq).toBe(0);
    expect(metric(births[1], 'bdSeq').value).toBe(metric(births[0], 'bdSeq').value);
    expect(dbirths[1]?.seq).toBe(1);
    expect(metric(dbirths[1], 'Counters/Parts').value).toBe(5);
    expect(metric(dbirths[1], 'Last Part/ID').value).toBe('run-sp-5');
    mqtt.publishPart(makeRecord(6, 'run-sp'));
    const ddata = await observer.waitFor('DDATA', 6);
    expect(ddata[5]?.seq).toBe(2);
    expect(seqBreaks(observer.messages)).toEqual([]);
  });

  it('with a primary host: no birth and no data while it is offline; when it comes online, births first, then the held data flagged historical with their original timestamps', async () => {
    const host = `scada-${Math.random().toString(16).slice(2)}`;
    const cfg = config({}, { primary_host: host });
    const observer = await observe(cfg);
    await observer.hostState(host, false, Date.now() - 1000);
    cleanups.push(() =>
      observer.client.publishAsync(`spBv1.0/STATE/${host}`, '', { qos: 1, retain: true }).then(() => undefined),
    );
    const mqtt = await started(cfg);
    await waitFor(() => mqtt.state().connected, 10_000, 'connect');
    const held = [1, 2, 3].map((seq) => makeRecord(seq, 'run-sp'));
    for (const record of held) mqtt.publishPart(record);
    await waitFor(() => mqtt.state().queued === 3, 5000, 'three queued');
    await observer.settle();
    expect(observer.of('NBIRTH')).toHaveLength(0);
    expect(observer.of('DDATA')).toHaveLength(0);

    await observer.hostState(host, true);
    const ddata = await observer.waitFor('DDATA', 3);
    const types = observer.messages.filter((m) => m.type !== 'MARKER').map((m) => m.type);
    expect(types).toEqual(['NBIRTH', 'DBIRTH', 'DDATA', 'DDATA', 'DDATA']);
    expect(metric(observer.of('DBIRTH')[0], 'Counters/Parts').value).toBe(3);
    for (const [i, message] of ddata.entries()) {
      expect(message.metrics.every((m) => m.isHistorical)).toBe(true);
      expect(metric(message, 'Last Part/ID').timestamp).toBe(decisionTimeMs(held[i]!, 0));
    }
    expect(seqBreaks(observer.messages)).toEqual([]);

    // Offline again: held; online: a new birth, then the held part.
    await observer.hostState(host, false);
    await observer.settle();
    mqtt.publishPart(makeRecord(4, 'run-sp'));
    await waitFor(() => mqtt.state().queued === 1, 5000, 'part 4 queued');
    await observer.settle();
    expect(observer.of('DDATA')).toHaveLength(3);
    await observer.hostState(host, true);
    const after = await observer.waitFor('DDATA', 4);
    expect(observer.of('NBIRTH')).toHaveLength(2);
    expect(after[3]?.metrics.every((m) => m.isHistorical)).toBe(true);
    // Live again: a new part is not historical.
    mqtt.publishPart(makeRecord(5, 'run-sp'));
    const live = await observer.waitFor('DDATA', 5);
    expect(live[4]?.metrics.some((m) => m.isHistorical)).toBe(false);
    expect(seqBreaks(observer.messages)).toEqual([]);
  });

  it('works over MQTT 3.1.1 with QoS 2 too (the embedded broker speaks 3.1.1 only)', async () => {
    const cfg = config({ protocol_version: 4, qos: 2 });
    const observer = await observe(cfg);
    const mqtt = await started(cfg);
    await observer.waitFor('DBIRTH', 1);
    for (let seq = 1; seq <= 30; seq++) mqtt.publishPart(makeRecord(seq, 'run-sp'));
    await observer.waitFor('DDATA', 30);
    expect(partSeqs(observer.messages)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(seqBreaks(observer.messages)).toEqual([]);
    await waitFor(() => mqtt.state().queued === 0 && mqtt.state().sent === 30, 5000, 'every PUBCOMP');
  });

  it('alarms are DDATA metrics: state, message, id and the count of open alarms', async () => {
    const cfg = config();
    const observer = await observe(cfg);
    const mqtt = await started(cfg);
    await observer.waitFor('DBIRTH', 1);
    const at = new Date(Date.UTC(2026, 10, 23, 13, 7, 46));
    mqtt.publishAlarm({ alarm: 'bin_full', id: 'run-sp-A1', state: 'raised', message: 'bin full', at });
    mqtt.publishAlarm({ alarm: 'bin_full', id: 'run-sp-A1', state: 'acknowledged', message: 'bin full', by: 'op' });
    const ddata = await observer.waitFor('DDATA', 2);
    expect(metric(ddata[0], 'Alarms/bin_full/State')).toMatchObject({ value: 'raised', timestamp: at.getTime() });
    expect(metric(ddata[0], 'Alarms/bin_full/ID').value).toBe('run-sp-A1');
    expect(metric(ddata[0], 'Alarms/Active').value).toBe(1);
    expect(metric(ddata[1], 'Alarms/bin_full/State').value).toBe('acknowledged');
    expect(metric(ddata[1], 'Alarms/Active').value).toBe(0);
  });
});
