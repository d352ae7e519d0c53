import { describe, expect, it } from 'vitest';
import { mqttSection } from '../../../../src/config/sections/mqtt.js';
import { isLinesideError } from '../../../../src/errors.js';
import { createMqtt } from '../../../../src/io/mqtt/index.js';
import { captureLogger, makeRecord, tempDir } from './helpers.js';

describe('mqtt config section', () => {
  it.each([
    'embedded',
    'mqtt://broker.local:1883',
    'mqtts://user:pw@broker.local:8883',
    'tcp://10.0.0.5',
    'ssl://broker',
    'ws://broker/mqtt',
    'wss://broker:443/mqtt',
  ])('accepts url %s', (url) => {
    expect(mqttSection.parse({ url }).url).toBe(url);
  });

  it.each([
    'mqtt//broker:1883',
    'broker.local:1883',
    'broker.local',
    'http://broker:1883',
    'mqtt://',
    'mqtt:///path',
    'embeded',
  ])('rejects url %s, naming the accepted forms', (url) => {
    const result = mqttSection.safeParse({ url });
    expect(result.success).toBe(false);
    const issue = result.error?.issues[0];
    expect(issue?.path).toEqual(['url']);
    expect(issue?.message).toContain('"embedded"');
    expect(issue?.message).toContain('mqtt, mqtts, tcp, ssl, ws or wss');
  });

  it('caps outbox_max_mb at 2048', () => {
    expect(mqttSection.parse({ outbox_max_mb: 2048 }).outbox_max_mb).toBe(2048);
    expect(mqttSection.safeParse({ outbox_max_mb: 2049 }).success).toBe(false);
  });

  it('still accepts the deprecated outbox_fsync (an old config must not exit 78) and warns at start that it is ignored', async () => {
    const dir = await tempDir('mqtt-fsync');
    try {
      const config = mqttSection.parse({ url: 'mqtt://127.0.0.1:1', outbox_fsync: false });
      expect(config.outbox_fsync).toBe(false);
      expect(mqttSection.parse({}).outbox_fsync).toBeUndefined();
      const { logger, records } = captureLogger();
      const mqtt = createMqtt(config, { logger, lineId: 'demo', baseDir: dir.path, env: {} });
      await mqtt.start(new AbortController().signal);
      await mqtt.stop();
      const warning = records().find((r) => String(r.msg).includes('outbox_fsync is deprecated'));
      expect(warning).toMatchObject({ level: 40, outbox_fsync: false });
    } finally {
      await dir.remove();
    }
  });
});

describe('createMqtt start failure', () => {
  it('a client that cannot start fails with LS_MQTT_CONNECT and stops the outbox it opened', async () => {
    const dir = await tempDir('mqtt-start');
    try {
      const { logger, records } = captureLogger();
      // Past the schema (a config built by code): the client itself refuses the URL.
      const config = { ...mqttSection.parse({ outbox_dir: 'outbox' }), url: 'mqtt//broker:1883' };
      const mqtt = createMqtt(config, { logger, lineId: 'demo', baseDir: dir.path, env: {} });
      const error: unknown = await mqtt.start(new AbortController().signal).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isLinesideError(error) && error.code).toBe('LS_MQTT_CONNECT');
      // A stopped outbox says so when something is still enqueued.
      mqtt.publishPart(makeRecord(1));
      expect(
        records().some((r) => r.code === 'LS_MQTT_OUTBOX' && r.level === 40 && String(r.msg).includes('after stop')),
      ).toBe(true);
    } finally {
      await dir.remove();
    }
  });
});
