import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mqttSection, type MqttConfig } from '../../../../src/config/sections/mqtt.js';
import { createMqtt, type Mqtt, type MqttCommand } from '../../../../src/io/mqtt/index.js';
import {
  statusPayloadSchema,
  verdictPayloadSchema,
  alarmPayloadSchema,
  type VerdictPayload,
} from '../../../../src/io/mqtt/payload.js';
import { waitFor, yieldTurns } from '../../../wait.js';
import {
  GatedProxy,
  Mosquitto,
  Observer,
  captureLogger,
  makeRecord,
  openRecordDatabase,
  silentLogger,
  tempDir,
} from './helpers.js';

const signal = new AbortController().signal;
const LINE = 'cell7';
const PREFIX = `lineside/${LINE}`;

describe('MQTT against a real mosquitto 2.0 broker', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let broker: Mosquitto;
  const cleanups: (() => Promise<void>)[] = [];
  let outboxCount = 0;

  beforeAll(async () => {
    dir = await tempDir('mqtt');
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

  function config(overrides: Partial<MqttConfig> = {}): MqttConfig {
    return mqttSection.parse({
      url: broker.url,
      reconnect_ms: 100,
      outbox_dir: `outbox-${++outboxCount}`,
      ...overrides,
    });
  }

  async function started(cfg: MqttConfig, deps: Partial<Parameters<typeof createMqtt>[1]> = {}): Promise<Mqtt> {
    const mqtt = createMqtt(cfg, { logger: silentLogger(), lineId: LINE, baseDir: dir.path, env: {}, ...deps });
    await mqtt.start(signal);
    cleanups.push(() => mqtt.stop());
    return mqtt;
  }

  async function observe(topic = `${PREFIX}/#`, url = broker.url): Promise<Observer> {
    const observer = await Observer.connect(url, topic);
    cleanups.push(() => observer.close());
    return observer;
  }

  async function gated(): Promise<GatedProxy> {
    const relay = new GatedProxy(() => broker.port);
    await relay.start();
    cleanups.push(() => relay.stop());
    return relay;
  }

  const seqs = (observer: Observer): number[] => observer.json<VerdictPayload>(`${PREFIX}/verdict`).map((v) => v.seq);

  it('delivers verdicts in order with consecutive seq, each a schema-valid payload', async () => {
    const observer = await observe();
    const mqtt = await started(config());
    await waitFor(() => mqtt.state().connected, 10_000, 'connect');
    for (let seq = 1; seq <= 200; seq++) mqtt.publishPart(makeRecord(seq));
    await waitFor(() => observer.on(`${PREFIX}/verdict`).length >= 200, 15_000, '200 verdicts');
    expect(seqs(observer)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    for (const message of observer.on(`${PREFIX}/verdict`)) {
      expect(() => verdictPayloadSchema.parse(JSON.parse(message.payload))).not.toThrow();
      expect(message.retain).toBe(false);
    }
    const third = observer.json<VerdictPayload>(`${PREFIX}/verdict`)[2]!;
    expect(third).toMatchObject({
      id: 'run-test-3',
      seq: 3,
      run_id: 'run-test',
      line_id: LINE,
      decision: 'reject',
      verdict: 'defective',
    });
    await waitFor(() => mqtt.state().queued === 0, 5000, 'outbox empty');
    expect(mqtt.state()).toMatchObject({ connected: true, sent: 200, dropped: 0, inFlight: 0 });
  });

  it('also delivers in order with QoS 2 over MQTT 3.1.1', async () => {
    const observer = await observe();
    const mqtt = await started(config({ qos: 2, protocol_version: 4, max_in_flight: 4 }));
    for (let seq = 1; seq <= 60; seq++) mqtt.publishPart(makeRecord(seq));
    await waitFor(() => mqtt.state().queued === 0 && mqtt.state().sent === 60, 15_000, 'outbox empty');
    await waitFor(() => observer.on(`${PREFIX}/verdict`).length >= 60, 5000, '60 verdicts');
    expect(seqs(observer)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  });

  it('never waits for an absent broker: verdicts queue in the outbox and are delivered once it is reachable', async () => {
    const relay = await gated();
    const mqtt = await started(config({ url: relay.url }));
    for (let seq = 1; seq <= 50; seq++) mqtt.publishPart(makeRecord(seq));
    // Two connect attempts refused: the publisher is trying, in the background, and holds everything.
    await waitFor(() => relay.refused >= 2, 10_000, 'two refused connect attempts');
    expect(mqtt.state()).toMatchObject({ connected: false, queued: 50, sent: 0 });

    const observer = await observe();
    relay.open = true;
    await waitFor(() => observer.on(`${PREFIX}/verdict`).length >= 50, 15_000, '50 verdicts');
    expect(seqs(observer)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await waitFor(() => mqtt.state().queued === 0, 5000, 'outbox empty');
  });

  it('loses nothing when the broker is killed mid-stream and restarted (at least once: every seq arrives)', async () => {
    const relay = await gated();
    relay.open = true;
    const firstObserver = await Observer.connect(broker.url, `${PREFIX}/verdict`);
    const mqtt = await started(config({ url: relay.url }));
    await waitFor(() => mqtt.state().connected, 10_000, 'connect');
    const total = 300;
    let seq = 0;
    const produce = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        mqtt.publishPart(makeRecord(++seq));
        // A stream, not a burst: the publisher and its socket get a turn between batches.
        if (i % 10 === 0) await yieldTurns();
      }
    };
    await produce(100);
    await waitFor(() => firstObserver.messages.length >= 40, 10_000, 'first messages');
    await broker.kill();
    relay.cut();
    await waitFor(() => !mqtt.state().connected, 10_000, 'the publisher to notice the cut');
    await produce(100);
    await firstObserver.client.endAsync(true);
    expect(mqtt.state().connected).toBe(false);
    expect(mqtt.state().queued).toBeGreaterThanOrEqual(100);

    await broker.start();
    const secondObserver = await observe(`${PREFIX}/verdict`);
    relay.open = true;
    await produce(total - 200);
    await waitFor(() => mqtt.state().queued === 0 && mqtt.state().connected, 20_000, 'outbox to drain after restart');
    await waitFor(() => new Set([...seqs(firstObserver), ...seqs(secondObserver)]).size === total, 30_000, 'all seqs');
    const received = [...seqs(firstObserver), ...seqs(secondObserver)];
    expect([...new Set(received)].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    // Duplicates are bounded by what was on the wire when the broker died.
    expect(received.length - total).toBeLessThanOrEqual(config().max_in_flight);
    expect(mqtt.state().dropped).toBe(0);
  });

  it('delivers after a publisher restart: stopped while the broker was unreachable, a new one on the same outbox sends everything', async () => {
    const relay = await gated();
    const cfg = config({ url: relay.url });
    const database = openRecordDatabase(join(dir.path, `record-${outboxCount}.db`));
    cleanups.push(() => Promise.resolve(database.close()));
    const deps = { logger: silentLogger(), lineId: LINE, baseDir: dir.path, env: {}, database };
    const first = createMqtt(cfg, { ...deps, runId: 'run-a' });
    await first.start(signal);
    for (let seq = 1; seq <= 40; seq++) first.publishPart(makeRecord(seq, 'run-a'));
    await first.stop();

    const second = await started(cfg, { runId: 'run-b', database });
    for (let seq = 1; seq <= 10; seq++) second.publishPart(makeRecord(seq, 'run-b'));
    const observer = await observe();
    relay.open = true;
    await waitFor(() => observer.on(`${PREFIX}/verdict`).length >= 50, 15_000, '50 verdicts');
    const ids = observer.json<VerdictPayload>(`${PREFIX}/verdict`).map((v) => `${v.run_id}:${v.seq}`);
    expect(ids).toEqual([
      ...Array.from({ length: 40 }, (_, i) => `run-a:${i + 1}`),
      ...Array.from({ length: 10 }, (_, i) => `run-b:${i + 1}`),
    ]);
  });

  it('publishes retained online status, the broker publishes the retained last will when the connection dies, offline on clean stop', async () => {
    const relay = await gated();
    relay.open = true;
    const statusTopic = `${PREFIX}/status`;
    const observer = await observe(statusTopic);
    const mqtt = await started(config({ url: relay.url }), { runId: 'run-s' });
    // Other tests leave their retained status on the same topic: look at this run's messages only.
    const mine = (): Record<string, unknown>[] => observer.json(statusTopic).filter((s) => s.run_id === 'run-s');
    await waitFor(() => mine().length >= 1, 10_000, 'online');
    expect(statusPayloadSchema.parse(mine()[0])).toMatchObject({
      state: 'online',
      reason: 'connected',
      run_id: 'run-s',
    });

    relay.cut();
    await waitFor(() => mine().length >= 2, 10_000, 'last will');
    expect(mine()[1]).toMatchObject({ state: 'offline', reason: 'connection_lost', run_id: 'run-s' });
    const late = await observe(statusTopic);
    await waitFor(() => late.messages.length >= 1, 5000, 'retained will');
    expect(late.messages[0]).toMatchObject({ retain: true });
    expect(JSON.parse(late.messages[0]!.payload)).toMatchObject({ state: 'offline', reason: 'connection_lost' });

    relay.open = true;
    await waitFor(() => mqtt.state().connected, 10_000, 'reconnect');
    mqtt.publishPart(makeRecord(1, 'run-s'));
    mqtt.publishPart(makeRecord(2, 'run-s'));
    await mqtt.stop();
    await waitFor(() => mine().length >= 4, 5000, 'offline on stop');
    expect(mine().slice(2)).toMatchObject([
      { state: 'online', reason: 'connected' },
      { state: 'offline', reason: 'stopped', last_seq: 2 },
    ]);
    expect(mqtt.state().queued).toBe(0);
    const after = await observe(statusTopic);
    await waitFor(() => after.messages.length >= 1, 5000, 'retained offline');
    expect(JSON.parse(after.messages[0]!.payload)).toMatchObject({ state: 'offline', reason: 'stopped' });
  });

  it('publishes alarm events and retained state of open alarms; acknowledged or cleared alarms leave no retained state', async () => {
    const observer = await observe();
    const mqtt = await started(config(), { runId: 'run-al' });
    mqtt.publishAlarm({ alarm: 'bin_full', id: 'run-al-A1', state: 'raised', message: 'bin full' });
    mqtt.publishAlarm({
      alarm: 'consecutive_rejects',
      id: 'run-al-A2',
      state: 'raised',
      message: '10 rejects in a row',
      details: { count: 10 },
    });
    await waitFor(() => observer.on(`${PREFIX}/alarm`).length >= 2, 10_000, 'alarm');
    const raised = alarmPayloadSchema.parse(observer.json(`${PREFIX}/alarm`)[1]);
    expect(raised).toMatchObject({
      alarm: 'consecutive_rejects',
      id: 'run-al-A2',
      state: 'raised',
      code: 'LS_ALARM',
      run_id: 'run-al',
      details: { count: 10 },
    });
    const stateView = await observe(`${PREFIX}/alarm/state/+`);
    await waitFor(() => stateView.messages.length >= 2, 5000, 'retained alarm state');
    expect(stateView.messages.map((m) => [m.topic, m.retain]).sort()).toEqual([
      [`${PREFIX}/alarm/state/bin_full`, true],
      [`${PREFIX}/alarm/state/consecutive_rejects`, true],
    ]);

    mqtt.publishAlarm({
      alarm: 'consecutive_rejects',
      id: 'run-al-A2',
      state: 'acknowledged',
      message: '10 rejects in a row',
      by: 'op',
    });
    mqtt.publishAlarm({ alarm: 'bin_full', id: 'run-al-A1', state: 'cleared', message: 'bin emptied' });
    await waitFor(() => observer.on(`${PREFIX}/alarm`).length >= 4, 5000, 'acknowledged and cleared');
    expect(observer.json(`${PREFIX}/alarm`).map((a) => a.state)).toEqual([
      'raised',
      'raised',
      'acknowledged',
      'cleared',
    ]);
    await waitFor(() => mqtt.state().queued === 0, 5000, 'outbox empty');
    const fresh = await observe(`${PREFIX}/alarm/state/+`);
    // Retained messages come right after the subscription, before a marker sent after it: none came.
    expect(await fresh.settle(`${PREFIX}/alarm/state/settle`)).toEqual([]);
  });

  it('hands ack commands to onCommand; ignores retained and malformed ones', async () => {
    const { logger, records } = captureLogger();
    const mqtt = await started(config(), { logger });
    const received: MqttCommand[] = [];
    mqtt.onCommand((command) => received.push(command));
    await waitFor(() => mqtt.state().connected, 10_000, 'connect');
    const operator = await observe(`${PREFIX}/none`);
    // The publisher subscribes to cmd/ack once connected, and nothing says when the broker has granted it: send
    // probe commands, one per round trip, until one comes through. The broker keeps one sender's messages in
    // order, so every later command arrives too, after the probes.
    const isProbe = (command: MqttCommand): boolean => command.type === 'ack' && command.by === 'probe';
    const commands = (): MqttCommand[] => received.filter((command) => !isProbe(command));
    for (const deadline = performance.now() + 10_000; !received.some(isProbe);) {
      if (performance.now() > deadline)
        throw new Error('no probe command came through: the publisher did not subscribe to cmd/ack');
      await operator.client.publishAsync(`${PREFIX}/cmd/ack`, JSON.stringify({ by: 'probe' }), { qos: 1 });
    }
    await operator.client.publishAsync(
      `${PREFIX}/cmd/ack`,
      JSON.stringify({ alarm: 'consecutive_rejects', by: 'op1' }),
      { qos: 1 },
    );
    await operator.client.publishAsync(`${PREFIX}/cmd/ack`, '', { qos: 1 });
    await operator.client.publishAsync(`${PREFIX}/cmd/ack`, 'not json', { qos: 1 });
    await operator.client.publishAsync(`${PREFIX}/cmd/ack`, JSON.stringify({ alarm: 'a/b' }), { qos: 1 });
    await operator.client.publishAsync(`${PREFIX}/cmd/ack`, JSON.stringify({ id: 'run-x-A7' }), { qos: 1 });
    await waitFor(
      () =>
        commands().length >= 3 && records().filter((r) => r.msg === 'MQTT ignored an invalid ack command').length >= 2,
      5000,
      'commands',
    );
    expect(commands()).toEqual([
      { type: 'ack', alarm: 'consecutive_rejects', by: 'op1' },
      { type: 'ack' },
      { type: 'ack', id: 'run-x-A7' },
    ]);
    expect(received.findLastIndex(isProbe)).toBeLessThan(received.findIndex((command) => !isProbe(command)));

    await mqtt.stop();
    // Left retained while the daemon was down: delivered at subscribe time with the retain flag, and must not
    // acknowledge alarms of the new run.
    await operator.client.publishAsync(`${PREFIX}/cmd/ack`, '{}', { qos: 1, retain: true });
    const again = await started(config(), { logger });
    const later: MqttCommand[] = [];
    again.onCommand((command) => later.push(command));
    await waitFor(
      () => records().some((r) => String(r.msg).includes('retained command')),
      5000,
      'retained ignored at subscribe',
    );
    expect(later).toEqual([]);
    await operator.client.publishAsync(`${PREFIX}/cmd/ack`, '', { qos: 1, retain: true });
    expect(commands()).toHaveLength(3);
  });

  it('logs an unreachable broker once (LS_MQTT_CONNECT), not once per retry', async () => {
    const relay = await gated();
    const { logger, records } = captureLogger();
    const mqtt = await started(config({ url: relay.url, reconnect_ms: 100 }), { logger });
    // The client connects again only after it has handled the previous close: 5 attempts seen by the relay mean
    // at least 4 failures handled (and logged, if it logged per retry).
    await waitFor(() => relay.refused >= 5, 10_000, 'five refused connect attempts');
    const warnings = records().filter((r) => r.code === 'LS_MQTT_CONNECT' && r.level === 40);
    expect(warnings).toHaveLength(1);
    expect(mqtt.state().connected).toBe(false);
    relay.open = true;
    await waitFor(() => mqtt.state().connected, 10_000, 'connect');
    const info = records().filter((r) => r.code === 'LS_MQTT_CONNECT' && r.level === 30);
    expect(info).toHaveLength(1);
    expect(Number(info[0]?.failedAttempts)).toBeGreaterThan(3);
  });

  describe('with a broker whose ACL denies the alarm topics', () => {
    let guarded: Mosquitto;

    beforeAll(async () => {
      const aclFile = join(dir.path, 'acl');
      await writeFile(aclFile, `topic readwrite #\ntopic deny ${PREFIX}/alarm/#\n`);
      guarded = await Mosquitto.create(dir.path, { aclFile });
      await guarded.start();
    });
    afterAll(async () => {
      await guarded.kill();
    });

    it('drops a message the broker refuses (MQTT 5 "not authorized"), counts it as rejected, logs LS_MQTT_REJECTED, and later verdicts flow', async () => {
      const observer = await observe(`${PREFIX}/#`, guarded.url);
      const { logger, records } = captureLogger();
      const mqtt = await started(config({ url: guarded.url, max_in_flight: 1 }), { logger });
      await waitFor(() => mqtt.state().connected, 10_000, 'connect');
      mqtt.publishPart(makeRecord(1));
      mqtt.publishAlarm({ alarm: 'bin_full', id: 'run-test-A1', state: 'raised', message: 'bin full' });
      for (let seq = 2; seq <= 5; seq++) mqtt.publishPart(makeRecord(seq));
      await waitFor(() => mqtt.state().queued === 0, 10_000, 'outbox empty');
      await waitFor(() => observer.on(`${PREFIX}/verdict`).length >= 5, 5000, '5 verdicts');
      expect(seqs(observer)).toEqual([1, 2, 3, 4, 5]);
      expect(observer.on(`${PREFIX}/alarm`)).toEqual([]);
      // The alarm event and its retained state: both refused, neither retried.
      expect(mqtt.state()).toMatchObject({ sent: 5, rejected: 2, dropped: 0 });
      const rejected = records().filter((r) => r.code === 'LS_MQTT_REJECTED');
      expect(rejected).toHaveLength(1);
      expect(rejected[0]).toMatchObject({ level: 50, topic: `${PREFIX}/alarm`, reasonCode: 0x87 });
    });
  });

  describe('with a password-protected broker', () => {
    const SECRET = 's3cr3t-Pa55word-xyz';
    let secured: Mosquitto;
    let credentials: string;

    beforeAll(async () => {
      const passwordFile = join(dir.path, 'passwd');
      await promisify(execFile)('mosquitto_passwd', ['-b', '-c', passwordFile, 'lineside', SECRET]);
      secured = await Mosquitto.create(dir.path, { passwordFile });
      await secured.start();
      credentials = join(dir.path, 'creds');
      await mkdir(credentials, { recursive: true });
      await writeFile(join(credentials, 'mqtt_password'), `${SECRET}\n`);
    });
    afterAll(async () => {
      await secured.kill();
    });

    it('connects with the password from the env var named by password_env, and never logs it', async () => {
      const { logger, lines } = captureLogger('trace');
      const mqtt = await started(config({ url: secured.url, username: 'lineside', password_env: 'MQTT_PW' }), {
        logger,
        env: { MQTT_PW: SECRET },
      });
      await waitFor(() => mqtt.state().connected, 10_000, 'connect');
      mqtt.publishPart(makeRecord(1));
      await waitFor(() => mqtt.state().sent === 1, 5000, 'sent');
      await mqtt.stop();
      expect(lines.length).toBeGreaterThan(2);
      expect(lines.join('\n')).not.toContain(SECRET);
    });

    it('a systemd credential wins over the env var', async () => {
      const mqtt = await started(config({ url: secured.url, username: 'lineside', password_env: 'MQTT_PW' }), {
        env: { MQTT_PW: 'wrong', CREDENTIALS_DIRECTORY: credentials },
      });
      await waitFor(() => mqtt.state().connected, 10_000, 'connect');
    });

    it('an empty password fails start with LS_CONFIG_INVALID naming the variable, instead of logging in without one', async () => {
      await expect(
        started(config({ url: secured.url, username: 'lineside', password_env: 'MQTT_PW' }), { env: { MQTT_PW: '' } }),
      ).rejects.toMatchObject({
        code: 'LS_CONFIG_INVALID',
        message: expect.stringContaining('mqtt.password_env: the secret in environment variable MQTT_PW is empty'),
      });
    });

    it('a refused login is reported (state, LS_MQTT_AUTH) without the password, and keeps queuing', async () => {
      const wrong = `${SECRET}-wrong`;
      const { logger, lines, records } = captureLogger('trace');
      const mqtt = await started(
        config({ url: `mqtt://lineside:${wrong}@127.0.0.1:${secured.port}`, password_env: 'MQTT_PW' }),
        {
          logger,
          env: { MQTT_PW: wrong },
        },
      );
      mqtt.publishPart(makeRecord(1));
      await waitFor(() => mqtt.state().lastError !== null, 10_000, 'refusal');
      await waitFor(() => records().some((r) => r.code === 'LS_MQTT_AUTH' && r.level === 40), 5000, 'warning');
      expect(mqtt.state()).toMatchObject({ connected: false, queued: 1 });
      expect(mqtt.state().lastError?.message).toMatch(/Not authorized|Bad User Name or Password/i);
      expect(mqtt.state().lastError?.code).toBe('LS_MQTT_AUTH');
      expect(lines.join('\n')).not.toContain(wrong);
      expect(JSON.stringify(mqtt.state())).not.toContain(wrong);
    });
  });
});
