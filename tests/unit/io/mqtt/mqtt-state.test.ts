import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mqttSection } from '../../../../src/config/sections/mqtt.js';
import { FAILSAFE_REASONS, type FailsafeReason } from '../../../../src/domain/part.js';
import { createMqtt, type LineStateFacts, type Mqtt } from '../../../../src/io/mqtt/index.js';
import { statePayloadSchema, type StatePayload } from '../../../../src/io/mqtt/state-payload.js';
import { elapsed, waitFor } from '../../../wait.js';
import { GatedProxy, Mosquitto, Observer, makeRecord, silentLogger, tempDir } from './helpers.js';

const LINE = 'cell9';
const STATE = `lineside/${LINE}/state`;
const INTERVAL_S = 1;

function facts(parts: number, ok: number): LineStateFacts {
  const failsafe = Object.fromEntries(FAILSAFE_REASONS.map((r) => [r, 0])) as Record<FailsafeReason, number>;
  failsafe.camera_timeout = parts - ok;
  return {
    parts,
    ok,
    reject: parts - ok,
    failsafe,
    gatePulses: parts - ok,
    alarmsActive: 1,
    healthy: true,
    model: { name: 'casting-cnn', version: '1.0.0', sha256: 'ab'.repeat(32), executionProvider: 'cpu' },
  };
}

describe('<prefix>/state: retained, latest value only', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let broker: Mosquitto;
  let count = 0;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    dir = await tempDir('mqtt-state');
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

  async function started(url: string, lineState: () => LineStateFacts | undefined): Promise<Mqtt> {
    const config = mqttSection.parse({
      url,
      reconnect_ms: 100,
      outbox_dir: `outbox-${++count}`,
      state_interval_s: INTERVAL_S,
    });
    const mqtt = createMqtt(config, { logger: silentLogger(), lineId: LINE, baseDir: dir.path, env: {}, lineState });
    await mqtt.start(new AbortController().signal);
    cleanups.push(() => mqtt.stop());
    return mqtt;
  }

  async function observe(): Promise<Observer> {
    const observer = await Observer.connect(broker.url, STATE);
    cleanups.push(() => observer.close());
    return observer;
  }

  const states = (observer: Observer): StatePayload[] =>
    observer.on(STATE).map((m) => statePayloadSchema.parse(JSON.parse(m.payload)));

  it('a subscriber that arrives later gets the current snapshot at once (retained), then one per interval', async () => {
    let current = facts(10, 9);
    const mqtt = await started(broker.url, () => current);
    await waitFor(() => mqtt.state().connected, 10_000, 'connect');
    const late = await observe();
    await waitFor(() => late.on(STATE).length >= 1, 10_000, 'the retained snapshot');
    expect(late.on(STATE)[0]?.retain).toBe(true);
    expect(states(late)[0]).toMatchObject({
      line_id: LINE,
      run_id: mqtt.runId,
      counters: { parts: 10, ok: 9, reject: 1, gate_pulses: 1, failsafe: { camera_timeout: 1, late: 0 } },
      yield: 0.9,
      health: { healthy: true, alarms_active: 1, outbox_queued: 0, outbox_dropped: 0 },
      model: { name: 'casting-cnn', version: '1.0.0', sha256: 'ab'.repeat(32), execution_provider: 'cpu' },
    });
    current = facts(12, 11);
    await waitFor(() => states(late).some((s) => s.counters.parts === 12), 10_000, 'the next snapshot');
    expect(states(late).at(-1)?.yield).toBe(0.9167);
  });

  it('is never queued: after an outage the first snapshot is the current one, not a backlog of old ones', async () => {
    const relay = new GatedProxy(() => broker.port);
    await relay.start();
    cleanups.push(() => relay.stop());
    let current = facts(1, 1);
    const mqtt = await started(relay.url, () => current);
    const since = performance.now();
    // Verdicts queue while the broker is out of reach; snapshots do not.
    mqtt.publishPart(makeRecord(1, mqtt.runId));
    await elapsed(since, INTERVAL_S * 2500);
    current = facts(2, 2);
    const observer = await observe();
    relay.open = true;
    const ours = (): StatePayload[] => states(observer).filter((s) => s.run_id === mqtt.runId);
    await waitFor(() => mqtt.state().connected && ours().length >= 1, 10_000, 'a snapshot after connect');
    await observer.settle(STATE);
    expect(ours().map((s) => s.counters.parts)).toEqual(ours().map(() => 2));
  });

  it('sends the final counters at stop, and nothing while the line has nothing to say', async () => {
    let current: LineStateFacts | undefined = undefined;
    const mqtt = await started(broker.url, () => current);
    const observer = await observe();
    await waitFor(() => mqtt.state().connected, 10_000, 'connect');
    await observer.settle(STATE);
    expect(states(observer).filter((s) => s.run_id === mqtt.runId)).toEqual([]);
    current = facts(5, 3);
    await mqtt.stop();
    await waitFor(() => states(observer).some((s) => s.run_id === mqtt.runId), 10_000, 'the final snapshot');
    expect(states(observer).find((s) => s.run_id === mqtt.runId)?.counters.parts).toBe(5);
  });
});
