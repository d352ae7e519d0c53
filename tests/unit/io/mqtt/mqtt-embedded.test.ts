import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mqttSection } from '../../../../src/config/sections/mqtt.js';
import { isLinesideError } from '../../../../src/errors.js';
import { createMqtt, type Mqtt } from '../../../../src/io/mqtt/index.js';
import type { StatusPayload, VerdictPayload } from '../../../../src/io/mqtt/payload.js';
import { waitFor } from '../../../wait.js';
import { Observer, captureLogger, makeRecord, silentLogger, tempDir } from './helpers.js';

const signal = new AbortController().signal;

describe('MQTT with the embedded aedes broker (url: embedded)', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let mqtt: Mqtt | undefined;
  beforeEach(async () => {
    dir = await tempDir('embedded');
  });
  afterEach(async () => {
    await mqtt?.stop();
    mqtt = undefined;
    await dir.remove();
  });

  it('starts an in-process broker on an ephemeral port, speaks 3.1.1 even when 5 is configured, and delivers in order', async () => {
    const { logger, records } = captureLogger();
    // The schema default is protocol_version 5: the embedded broker must make it 4 by itself.
    const config = mqttSection.parse({ url: 'embedded', embedded_port: 0, reconnect_ms: 100 });
    expect(config.protocol_version).toBe(5);
    mqtt = createMqtt(config, { logger, lineId: 'demo', baseDir: dir.path, env: {}, runId: 'run-e' });
    await mqtt.start(signal);
    const url = mqtt.state().brokerUrl!;
    expect(url).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+/);
    expect(records().some((r) => String(r.msg).includes('using protocol_version 4'))).toBe(true);

    const observer = await Observer.connect(url, 'lineside/demo/#', 4);
    for (let seq = 1; seq <= 100; seq++) mqtt.publishPart(makeRecord(seq, 'run-e'));
    await waitFor(() => observer.on('lineside/demo/verdict').length >= 100, 10_000, '100 verdicts');
    expect(observer.json<VerdictPayload>('lineside/demo/verdict').map((v) => v.seq)).toEqual(
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    await waitFor(() => mqtt!.state().queued === 0, 5000, 'outbox empty');
    expect(mqtt.state()).toMatchObject({ connected: true, sent: 100, dropped: 0 });

    const late = await Observer.connect(url, 'lineside/demo/status', 4);
    await waitFor(() => late.messages.length >= 1, 5000, 'retained status');
    expect(late.messages[0]?.retain).toBe(true);
    expect(JSON.parse(late.messages[0]!.payload)).toMatchObject({ state: 'online', run_id: 'run-e' });

    await mqtt.stop();
    mqtt = undefined;
    // stop() returns once the broker has the offline status; the observer gets it a moment later.
    const last = (): StatusPayload | undefined => observer.json<StatusPayload>('lineside/demo/status').at(-1);
    await waitFor(() => last()?.state === 'offline', 5000, 'offline status');
    expect(last()).toMatchObject({ state: 'offline', reason: 'stopped', last_seq: 100 });
    await observer.close();
    await late.close();
  });

  it('refuses to start when the embedded port is taken, with LS_MQTT_CONNECT', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const taken = createMqtt(mqttSection.parse({ url: 'embedded', embedded_port: port }), {
        logger: silentLogger(),
        lineId: 'demo',
        baseDir: dir.path,
        env: {},
      });
      const error: unknown = await taken.start(signal).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isLinesideError(error) && error.code).toBe('LS_MQTT_CONNECT');
      expect(String((error as Error).message)).toContain(`127.0.0.1:${port}`);
      await taken.stop();
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('a verdict published before the broker exists still arrives (queued in the outbox)', async () => {
    mqtt = createMqtt(mqttSection.parse({ url: 'embedded', embedded_port: 0 }), {
      logger: silentLogger(),
      lineId: 'demo',
      baseDir: dir.path,
      env: {},
    });
    mqtt.publishPart(makeRecord(1, mqtt.runId));
    await mqtt.start(signal);
    const observer = await Observer.connect(mqtt.state().brokerUrl!, 'lineside/demo/verdict', 4);
    mqtt.publishPart(makeRecord(2, mqtt.runId));
    // Whether 1 went out before the observer subscribed is a race; 2 must arrive, and 1 must have been sent.
    await waitFor(() => observer.messages.length >= 1 && mqtt!.state().sent === 2, 10_000, 'both sent');
    expect(observer.json<VerdictPayload>('lineside/demo/verdict').at(-1)?.seq).toBe(2);
    await observer.close();
  });

  it('without the line record database the outbox says why at start and in the state; verdicts still flow from memory', async () => {
    const { logger, records } = captureLogger();
    const config = mqttSection.parse({ url: 'embedded', embedded_port: 0, outbox_dir: join(dir.path, 'outbox') });
    const recordError = 'record: cannot create /nonexistent/var: ENOTDIR';
    const service = createMqtt(config, { logger, lineId: 'demo', baseDir: dir.path, env: {}, recordError });
    mqtt = service;
    await service.start(signal);
    // At start, before any verdict and with the broker up: no outage is needed to find out.
    expect(mqtt.state().storageError).toMatch(/ENOTDIR/);
    expect(mqtt.state().outboxDiskOk).toBe(false);
    expect(records().find((r) => r.code === 'LS_MQTT_OUTBOX')).toMatchObject({ level: 50, err: recordError });

    const observer = await Observer.connect(mqtt.state().brokerUrl!, 'lineside/demo/verdict', 4);
    mqtt.publishPart(makeRecord(1, mqtt.runId));
    await waitFor(() => observer.messages.length >= 1, 10_000, 'the verdict');
    // The subscriber may see the message before the daemon has the broker's PUBACK for it.
    await waitFor(() => service.state().sent >= 1, 10_000, 'the PUBACK');
    expect(mqtt.state()).toMatchObject({ sent: 1, storageError: expect.stringMatching(/ENOTDIR/) as unknown });
    await observer.close();
  });
});
