import path from 'node:path';
import { LinesideError, errorMessage } from '../errors.js';
import { isFileMissing, readRegularFile } from '../regular-file.js';
import type { HttpCameraConfig } from './sections/camera.js';
import type { MqttConfig } from './sections/mqtt.js';

/** Where one secret may come from. */
export interface SecretSource {
  /** What the secret is for, in error messages: `mqtt.password_env`, `camera.password_env`. */
  key: string;
  /** File name under $CREDENTIALS_DIRECTORY (systemd LoadCredential= / LoadCredentialEncrypted=). */
  credential: string;
  /** The environment variable read when there is no credential file. */
  envName: string;
}

/** The broker password: the credential `mqtt_password`, else the variable named by mqtt.password_env. */
export function mqttPasswordSource(mqtt: Pick<MqttConfig, 'password_env'>): SecretSource {
  return { key: 'mqtt.password_env', credential: 'mqtt_password', envName: mqtt.password_env };
}

/** The http camera's password: the credential named after camera.password_env lower-cased, else that variable. */
export function cameraPasswordSource(camera: Pick<HttpCameraConfig, 'password_env'>): SecretSource {
  return { key: 'camera.password_env', credential: camera.password_env.toLowerCase(), envName: camera.password_env };
}

/**
 * The one way lineside reads a secret (MQTT and camera passwords), with the same rules for every one:
 *
 * 1. the systemd credential file `$CREDENTIALS_DIRECTORY/<credential>` when it exists (one trailing newline is
 *    dropped, so `echo secret > file` works); it keeps the secret out of the environment and out of `ps`;
 * 2. otherwise the environment variable `envName`;
 * 3. otherwise undefined: no secret is configured, and the caller decides whether it needs one.
 *
 * An EMPTY secret (an empty file, or `VAR=` set to nothing) is an error, as is a credential file that exists but
 * cannot be read: both throw LS_CONFIG_INVALID naming the file or the variable, never the value. An empty
 * password is almost always a mistake (a blank templated file, a drop-in left without its value) that would
 * otherwise surface later as a puzzling "not authorised"; to run without a password, leave both unset.
 * Never log the result.
 */
export async function readSecret(
  source: SecretSource,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string | undefined> {
  const fromFile = await readCredential(source, env.CREDENTIALS_DIRECTORY);
  if (fromFile !== undefined) return fromFile;
  const value = env[source.envName];
  if (value === undefined) return undefined;
  if (value === '') throw emptySecret(source, `environment variable ${source.envName}`);
  return value;
}

/** A secret kept in a file (a TLS private key): a systemd credential wins over the configured path. */
export interface SecretFileSource {
  /** The config key of the path, in error messages: `mqtt.tls.key`. */
  key: string;
  credential: string;
  /** The configured file (absolute); undefined when only the credential may provide it. */
  file: string | undefined;
}

/** The TLS client key: the credential `mqtt_tls_key`, else the file `mqtt.tls.key`. */
export function mqttTlsKeySource(file: string | undefined): SecretFileSource {
  return { key: 'mqtt.tls.key', credential: 'mqtt_tls_key', file };
}

/**
 * readSecret's rules for a secret that lives in a file, such as a TLS private key: the systemd credential
 * `$CREDENTIALS_DIRECTORY/<credential>` when it exists, else the configured file, else undefined. An empty or
 * unreadable credential or file is LS_CONFIG_INVALID naming the file, never the content. `from` says which one
 * it was, for messages.
 */
export async function readSecretFile(
  source: SecretFileSource,
  env: Readonly<Record<string, string | undefined>>,
): Promise<{ value: string; from: string } | undefined> {
  const fromCredential = await readCredential(source, env.CREDENTIALS_DIRECTORY, 'key');
  if (fromCredential !== undefined) return { value: fromCredential, from: `credential ${source.credential}` };
  if (source.file === undefined) return undefined;
  let text: string;
  try {
    text = (await readRegularFile(source.file)).toString('utf8');
  } catch (err) {
    throw new LinesideError(
      'LS_CONFIG_INVALID',
      `${source.key}: ${source.file} cannot be read (${errorMessage(err)})`,
      { cause: err },
    );
  }
  if (text.trim() === '') throw emptySecret(source, `file ${source.file}`, 'key');
  return { value: text, from: source.file };
}

async function readCredential(
  source: Pick<SecretSource, 'key' | 'credential'>,
  credentialsDir: string | undefined,
  what = 'password',
): Promise<string | undefined> {
  if (!credentialsDir) return undefined;
  const file = path.join(credentialsDir, source.credential);
  let text: string;
  try {
    // A regular file only: a FIFO put there by mistake would block a pool thread for good.
    text = (await readRegularFile(file)).toString('utf8');
  } catch (err) {
    if (isFileMissing(err)) return undefined;
    // Falling back to the environment would quietly use a different secret than the one the unit provides.
    throw new LinesideError(
      'LS_CONFIG_INVALID',
      `${source.key}: credential file ${file} cannot be read (${errorMessage(err)})`,
      { cause: err },
    );
  }
  const value = text.replace(/\r?\n$/, '');
  if (value === '') throw emptySecret(source, `credential file ${file}`, what);
  return value;
}

function emptySecret(source: Pick<SecretSource, 'key'>, where: string, what = 'password'): LinesideError {
  return new LinesideError(
    'LS_CONFIG_INVALID',
    `${source.key}: the secret in ${where} is empty; put the ${what} there, or unset it to run without one`,
  );
}
