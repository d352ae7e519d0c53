import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cameraPasswordSource,
  mqttPasswordSource,
  mqttTlsKeySource,
  readSecret,
  readSecretFile,
} from '../../../src/config/secrets.js';

describe('readSecret', () => {
  const source = { key: 'mqtt.password_env', credential: 'mqtt_password', envName: 'PW' };
  let creds: string;
  let empty: string;

  beforeAll(() => {
    creds = mkdtempSync(path.join(tmpdir(), 'lineside-creds-'));
    writeFileSync(path.join(creds, 'mqtt_password'), 's3cret\n');
    empty = mkdtempSync(path.join(tmpdir(), 'lineside-creds-empty-'));
    writeFileSync(path.join(empty, 'mqtt_password'), '\n');
  });
  afterAll(() => {
    rmSync(creds, { recursive: true, force: true });
    rmSync(empty, { recursive: true, force: true });
  });

  it('prefers the systemd credential over the environment and drops one trailing newline', async () => {
    expect(await readSecret(source, { CREDENTIALS_DIRECTORY: creds, PW: 'env' })).toBe('s3cret');
  });

  it('falls back to the environment when there is no credential file, and is undefined when neither is set', async () => {
    expect(await readSecret(source, { CREDENTIALS_DIRECTORY: path.join(creds, 'nowhere'), PW: 'env' })).toBe('env');
    expect(await readSecret(source, { PW: 'env' })).toBe('env');
    expect(await readSecret(source, { CREDENTIALS_DIRECTORY: '' })).toBeUndefined();
    expect(await readSecret(source, {})).toBeUndefined();
  });

  it('an empty secret is LS_CONFIG_INVALID naming its source, from a file or from the environment', async () => {
    await expect(readSecret(source, { CREDENTIALS_DIRECTORY: empty, PW: 'env' })).rejects.toMatchObject({
      code: 'LS_CONFIG_INVALID',
      message: expect.stringContaining(
        `mqtt.password_env: the secret in credential file ${path.join(empty, 'mqtt_password')} is empty`,
      ),
    });
    await expect(readSecret(source, { PW: '' })).rejects.toMatchObject({
      code: 'LS_CONFIG_INVALID',
      message: expect.stringContaining('environment variable PW is empty'),
    });
  });

  it('a credential file that exists but cannot be read is an error, not a silent fall back to the environment', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lineside-creds-dir-'));
    mkdirSync(path.join(dir, 'mqtt_password')); // a directory: unreadable as a secret even for root, unlike a chmod 000 file
    try {
      await expect(readSecret(source, { CREDENTIALS_DIRECTORY: dir, PW: 'env' })).rejects.toMatchObject({
        code: 'LS_CONFIG_INVALID',
        message: expect.stringMatching(
          /credential file .*mqtt_password cannot be read \(not a regular file \(a directory\)\)/,
        ),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('secret sources', () => {
  it('MQTT: the credential mqtt_password, else mqtt.password_env; camera: the variable name lower-cased', () => {
    expect(mqttPasswordSource({ password_env: 'LINESIDE_MQTT_PASSWORD' })).toEqual({
      key: 'mqtt.password_env',
      credential: 'mqtt_password',
      envName: 'LINESIDE_MQTT_PASSWORD',
    });
    expect(cameraPasswordSource({ password_env: 'LINESIDE_CAMERA_PASSWORD' })).toEqual({
      key: 'camera.password_env',
      credential: 'lineside_camera_password',
      envName: 'LINESIDE_CAMERA_PASSWORD',
    });
  });
});

describe('readSecretFile (a TLS private key)', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'lineside-keyfile-'));
    mkdirSync(path.join(dir, 'creds'));
    writeFileSync(path.join(dir, 'creds', 'mqtt_tls_key'), 'KEY FROM CREDENTIAL\n');
    writeFileSync(path.join(dir, 'client.key'), 'KEY FROM FILE\n');
    writeFileSync(path.join(dir, 'blank.key'), '\n\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the credential mqtt_tls_key wins over the configured file, and says where the key came from', async () => {
    const source = mqttTlsKeySource(path.join(dir, 'client.key'));
    expect(await readSecretFile(source, { CREDENTIALS_DIRECTORY: path.join(dir, 'creds') })).toEqual({
      value: 'KEY FROM CREDENTIAL',
      from: 'credential mqtt_tls_key',
    });
    expect(await readSecretFile(source, {})).toEqual({ value: 'KEY FROM FILE\n', from: path.join(dir, 'client.key') });
    expect(await readSecretFile(mqttTlsKeySource(undefined), {})).toBeUndefined();
  });

  it('a blank or unreadable key file is LS_CONFIG_INVALID naming mqtt.tls.key and the file, never the content', async () => {
    await expect(readSecretFile(mqttTlsKeySource(path.join(dir, 'blank.key')), {})).rejects.toMatchObject({
      code: 'LS_CONFIG_INVALID',
      message: expect.stringContaining(`mqtt.tls.key: the secret in file ${path.join(dir, 'blank.key')} is empty`),
    });
    await expect(readSecretFile(mqttTlsKeySource(path.join(dir, 'none.key')), {})).rejects.toMatchObject({
      code: 'LS_CONFIG_INVALID',
      message: expect.stringContaining(`mqtt.tls.key: ${path.join(dir, 'none.key')} cannot be read`),
    });
  });
});
