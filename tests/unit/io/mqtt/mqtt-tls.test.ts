import { execFile } from 'node:child_process';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { brokerCheck, tlsChecks } from '../../../../src/cli/doctor-mqtt.js';
import { parseConfig, type LoadedConfig } from '../../../../src/config/load.js';
import { mqttSection, type MqttConfig } from '../../../../src/config/sections/mqtt.js';
import { createMqtt, type Mqtt } from '../../../../src/io/mqtt/index.js';
import type { VerdictPayload } from '../../../../src/io/mqtt/payload.js';
import { connectErrorCode } from '../../../../src/io/mqtt/tls-options.js';
import { waitFor } from '../../../wait.js';
import { makeCertificates, type TestCertificates } from './certs.js';
import { Mosquitto, Observer, captureLogger, makeRecord, silentLogger, tempDir } from './helpers.js';

const signal = new AbortController().signal;
const LINE = 'cell7';
const PREFIX = `lineside/${LINE}`;
const SECRET = 'tls-Pa55word-line';
const SCADA_SECRET = 'tls-Pa55word-scada';

/**
 * A real mosquitto with a password file, an ACL and no anonymous access, behind two TLS listeners (server
 * certificate only; mutual TLS), with certificates openssl makes for this run.
 */
describe('MQTT over TLS with authentication, against a real mosquitto', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let certs: TestCertificates;
  let broker: Mosquitto;
  let outboxCount = 0;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    dir = await tempDir('mqtt-tls');
    certs = await makeCertificates(dir.path);
    const passwordFile = join(dir.path, 'passwd');
    const passwd = promisify(execFile);
    await passwd('mosquitto_passwd', ['-b', '-c', passwordFile, 'lineside', SECRET]);
    await passwd('mosquitto_passwd', ['-b', passwordFile, 'scada', SCADA_SECRET]);
    const aclFile = join(dir.path, 'acl');
    const acl = ['user lineside', `topic readwrite ${PREFIX}/#`, '', 'user scada', 'topic read lineside/#'];
    await writeFile(aclFile, `${acl.join('\n')}\n`);
    const server = { cafile: certs.ca, certfile: certs.serverCert, keyfile: certs.serverKey };
    broker = await Mosquitto.create(dir.path, {
      passwordFile,
      aclFile,
      tls: [server, { ...server, requireCertificate: true }],
    });
    await broker.start();
  }, 60_000);
  afterAll(async () => {
    await broker.kill();
    await dir.remove();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** Each client its own id: two with one id would take turns throwing each other off the broker. */
  function config(overrides: Record<string, unknown> = {}): MqttConfig {
    outboxCount++;
    return mqttSection.parse({
      url: broker.tlsUrl(0),
      username: 'lineside',
      password_env: 'MQTT_PW',
      reconnect_ms: 100,
      outbox_dir: `outbox-${outboxCount}`,
      client_id: `lineside-tls-${outboxCount}`,
      tls: { ca: certs.ca },
      ...overrides,
    });
  }

  async function started(cfg: MqttConfig, env: Record<string, string> = { MQTT_PW: SECRET }, logger = silentLogger()) {
    const mqtt: Mqtt = createMqtt(cfg, { logger, lineId: LINE, baseDir: dir.path, env });
    await mqtt.start(signal);
    cleanups.push(() => mqtt.stop());
    return mqtt;
  }

  async function scada(): Promise<Observer> {
    const observer = await Observer.connect(broker.url, `${PREFIX}/#`, 5, {
      username: 'scada',
      password: SCADA_SECRET,
    });
    cleanups.push(() => observer.close());
    return observer;
  }

  /** Waits for the first refusal the client records, and the log line it makes; the client never connects. */
  async function refused(mqtt: Mqtt, records: () => Record<string, unknown>[], code: string): Promise<void> {
    mqtt.publishPart(makeRecord(1));
    await waitFor(() => mqtt.state().lastError?.code === code, 15_000, `lastError ${code}`);
    await waitFor(() => records().some((r) => r.code === code && r.level === 40), 15_000, `a ${code} warning`);
    expect(mqtt.state()).toMatchObject({ connected: false, connects: 0, queued: 1 });
  }

  it('delivers verdicts over TLS to the broker the CA vouches for, with the password, through the ACL', async () => {
    const observer = await scada();
    const mqtt = await started(config());
    for (let seq = 1; seq <= 20; seq++) mqtt.publishPart(makeRecord(seq));
    await waitFor(() => observer.on(`${PREFIX}/verdict`).length >= 20, 15_000, '20 verdicts');
    expect(observer.json<VerdictPayload>(`${PREFIX}/verdict`).map((v) => v.seq)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    await waitFor(() => mqtt.state().sent === 20, 15_000, '20 PUBACKs');
    expect(mqtt.state()).toMatchObject({ connected: true, lastError: null });
  });

  it('the ACL holds over TLS: a topic outside the user prefix is refused (MQTT 5 PUBACK 0x87) and dropped', async () => {
    const mqtt = await started(config({ topic_prefix: 'elsewhere/cell7' }));
    mqtt.publishPart(makeRecord(1));
    await waitFor(() => mqtt.state().rejected === 1, 15_000, 'the refusal');
    expect(mqtt.state()).toMatchObject({ connected: true, sent: 0, lastError: { code: 'LS_MQTT_REJECTED' } });
  });

  it('refuses anonymous clients (LS_MQTT_AUTH)', async () => {
    const { logger, records } = captureLogger();
    const mqtt = await started(config({ username: undefined }), {}, logger);
    await refused(mqtt, records, 'LS_MQTT_AUTH');
  });

  it('a wrong password is refused with LS_MQTT_AUTH, and the password is never logged', async () => {
    const wrong = `${SECRET}-wrong`;
    const { logger, records, lines } = captureLogger('trace');
    const mqtt = await started(config(), { MQTT_PW: wrong }, logger);
    await refused(mqtt, records, 'LS_MQTT_AUTH');
    expect(mqtt.state().lastError?.message).toMatch(/Not authorized|Bad User Name or Password/i);
    expect(lines.join('\n')).not.toContain(wrong);
  });

  it('a broker certificate from another CA fails the handshake with LS_MQTT_TLS, and the verdict stays queued', async () => {
    const { logger, records } = captureLogger();
    const mqtt = await started(config({ tls: { ca: certs.otherCa } }), undefined, logger);
    await refused(mqtt, records, 'LS_MQTT_TLS');
    expect(mqtt.state().lastError?.message).toMatch(/certificate/i);
  });

  it('checks the host name: the URL by name, or servername for a URL by address; another name fails (LS_MQTT_TLS)', async () => {
    const byName = await started(config({ url: broker.tlsUrl(0, 'localhost') }));
    const byServername = await started(config({ tls: { ca: certs.ca, servername: 'localhost' } }));
    await waitFor(() => byName.state().connected && byServername.state().connected, 15_000, 'both connect');
    const { logger, records } = captureLogger();
    const mqtt = await started(config({ tls: { ca: certs.ca, servername: 'broker.example' } }), undefined, logger);
    await refused(mqtt, records, 'LS_MQTT_TLS');
    expect(mqtt.state().lastError?.message).toMatch(/broker\.example/);
  });

  it('reject_unauthorized: false connects to a broker it cannot verify, with a warning at start', async () => {
    const { logger, records } = captureLogger();
    const mqtt = await started(config({ tls: { ca: certs.otherCa, reject_unauthorized: false } }), undefined, logger);
    await waitFor(() => mqtt.state().connected, 15_000, 'connect');
    const warning = records().find((r) => r.key === 'mqtt.tls.reject_unauthorized');
    expect(warning).toMatchObject({ level: 40, code: 'LS_MQTT_TLS' });
    expect(String(warning?.msg)).toMatch(/NOT verified/);
  });

  describe('mutual TLS', () => {
    const mutual = (tls: Record<string, unknown>): MqttConfig => config({ url: broker.tlsUrl(1), tls });

    it('connects with the client certificate and its key, and delivers', async () => {
      const observer = await scada();
      const mqtt = await started(mutual({ ca: certs.ca, cert: certs.clientCert, key: certs.clientKey }));
      mqtt.publishPart(makeRecord(1));
      await waitFor(() => observer.on(`${PREFIX}/verdict`).length === 1, 15_000, 'the verdict');
    });

    it('takes the key from the systemd credential mqtt_tls_key, which wins over mqtt.tls.key', async () => {
      const credentials = join(dir.path, 'creds');
      await mkdir(credentials, { recursive: true });
      await copyFile(certs.clientKey, join(credentials, 'mqtt_tls_key'));
      const env = { MQTT_PW: SECRET, CREDENTIALS_DIRECTORY: credentials };
      const onlyCredential = await started(mutual({ ca: certs.ca, cert: certs.clientCert }), env);
      const both = await started(mutual({ ca: certs.ca, cert: certs.clientCert, key: certs.strayKey }), env);
      await waitFor(() => onlyCredential.state().connected && both.state().connected, 15_000, 'both connect');
    });

    it('without a client certificate the broker ends the handshake (LS_MQTT_TLS)', async () => {
      const { logger, records } = captureLogger();
      const mqtt = await started(mutual({ ca: certs.ca }), undefined, logger);
      await refused(mqtt, records, 'LS_MQTT_TLS');
    });

    it('a key that is not the certificate one fails start with LS_CONFIG_INVALID naming it', async () => {
      await expect(
        started(mutual({ ca: certs.ca, cert: certs.clientCert, key: certs.strayKey })),
      ).rejects.toMatchObject({
        code: 'LS_CONFIG_INVALID',
        message: expect.stringContaining(`mqtt.tls.key: ${certs.strayKey} is not the private key of`),
      });
    });

    it('a certificate without any key (no file, no credential) fails start with LS_CONFIG_INVALID', async () => {
      await expect(started(mutual({ ca: certs.ca, cert: certs.clientCert }))).rejects.toMatchObject({
        code: 'LS_CONFIG_INVALID',
        message: expect.stringContaining('no private key for mqtt.tls.cert'),
      });
    });
  });

  it('an unreadable certificate file fails start with LS_CONFIG_INVALID naming the key and the file', async () => {
    const missing = join(dir.path, 'nope.crt');
    await expect(started(config({ tls: { ca: missing } }))).rejects.toMatchObject({
      code: 'LS_CONFIG_INVALID',
      message: expect.stringContaining(`mqtt.tls.ca: ${missing} cannot be read`),
    });
  });

  describe('doctor', () => {
    function loaded(mqtt: Record<string, unknown>): LoadedConfig {
      const config = parseConfig({
        camera: { type: 'folder', path: 'images' },
        gpio: { type: 'sim' },
        trigger: { line: 1 },
        gate: { line: 2 },
        mqtt: { url: broker.tlsUrl(1), username: 'lineside', password_env: 'MQTT_PW', ...mqtt },
      });
      return { config, file: join(dir.path, 'lineside.yaml'), baseDir: dir.path };
    }
    const env = { MQTT_PW: SECRET };

    it('reports sound certificates, the key that matches, and a broker that accepts them', async () => {
      const good = loaded({ tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } });
      const checks = await tlsChecks(good, env);
      expect(checks.map((c) => [c.name, c.status])).toEqual([
        ['mqtt.tls.ca', 'ok'],
        ['mqtt.tls.cert', 'ok'],
        ['mqtt.tls.key', 'ok'],
      ]);
      expect(checks[1]?.detail).toContain('CN=client');
      const broker = await brokerCheck(good, env, silentLogger());
      expect(broker).toMatchObject({ status: 'ok', detail: expect.stringContaining('with the client certificate') });
    });

    it('fails an expired client certificate, and a key that is not the certificate one, with LS_MQTT_TLS', async () => {
      const expired = await tlsChecks(loaded({ tls: { cert: certs.expiredCert, key: certs.expiredKey } }), env);
      expect(expired.find((c) => c.name === 'mqtt.tls.cert')).toMatchObject({
        status: 'fail',
        code: 'LS_MQTT_TLS',
        detail: expect.stringMatching(/CN=expired .*2020-01-02.* has EXPIRED/),
        action: expect.stringContaining('Renew'),
      });
      const stray = await tlsChecks(loaded({ tls: { cert: certs.clientCert, key: certs.strayKey } }), env);
      expect(stray.find((c) => c.name === 'mqtt.tls.key')).toMatchObject({
        status: 'fail',
        detail: expect.stringContaining('is not the private key of'),
      });
    });

    it('fails an unreadable file naming it, and a broker its CA does not vouch for, with LS_MQTT_TLS', async () => {
      const missing = join(dir.path, 'missing.pem');
      expect(await tlsChecks(loaded({ tls: { ca: missing } }), env)).toEqual([
        expect.objectContaining({
          status: 'fail',
          code: 'LS_CONFIG_INVALID',
          detail: expect.stringContaining(missing),
        }),
      ]);
      const wrongCa = loaded({ url: broker.tlsUrl(0), tls: { ca: certs.otherCa } });
      expect(await brokerCheck(wrongCa, env, silentLogger())).toMatchObject({ status: 'fail', code: 'LS_MQTT_TLS' });
      const wrongPassword = loaded({ url: broker.tlsUrl(0), tls: { ca: certs.ca } });
      expect(await brokerCheck(wrongPassword, { MQTT_PW: 'nope' }, silentLogger())).toMatchObject({
        status: 'fail',
        code: 'LS_MQTT_AUTH',
      });
    });
  });
});

describe('mqtt.tls config and error codes', () => {
  it('needs a TLS url: with mqtt:// the client would silently ignore it', () => {
    const result = mqttSection.safeParse({ url: 'mqtt://broker:1883', tls: { ca: 'ca.pem' } });
    expect(result.error?.issues[0]).toMatchObject({ path: ['url'], message: expect.stringContaining('mqtts://') });
    expect(mqttSection.safeParse({ url: 'mqtts://broker:8883', tls: { ca: 'ca.pem' } }).success).toBe(true);
    expect(mqttSection.parse({ url: 'mqtts://broker', tls: {} }).tls?.reject_unauthorized).toBe(true);
  });

  it('servername is refused with wss://, whose WebSocket client would ignore it', () => {
    const result = mqttSection.safeParse({ url: 'wss://broker/mqtt', tls: { servername: 'broker.local' } });
    expect(result.error?.issues[0]?.path).toEqual(['tls', 'servername']);
  });

  it('a key needs the certificate it belongs to', () => {
    const result = mqttSection.safeParse({ url: 'mqtts://broker', tls: { key: 'client.key' } });
    expect(result.error?.issues[0]?.path).toEqual(['tls', 'key']);
  });

  it('classifies connect errors: TLS verification, refused login, anything else', () => {
    const withCode = (code: string | number): Error => Object.assign(new Error('x'), { code });
    expect(connectErrorCode(withCode('UNABLE_TO_VERIFY_LEAF_SIGNATURE'))).toBe('LS_MQTT_TLS');
    expect(connectErrorCode(withCode('ERR_TLS_CERT_ALTNAME_INVALID'))).toBe('LS_MQTT_TLS');
    expect(connectErrorCode(withCode(0x86))).toBe('LS_MQTT_AUTH');
    expect(connectErrorCode(withCode(5))).toBe('LS_MQTT_AUTH');
    expect(connectErrorCode(withCode('ECONNREFUSED'))).toBe('LS_MQTT_CONNECT');
  });
});
