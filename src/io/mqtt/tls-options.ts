import path from 'node:path';
import type { Logger } from 'pino';
import type { MqttTlsConfig } from '../../config/sections/mqtt-tls.js';
import { mqttTlsKeySource, readSecretFile } from '../../config/secrets.js';
import { errorMessage, LinesideError, type ErrorCode } from '../../errors.js';
import { readRegularFile } from '../../regular-file.js';
import { reasonCodeOf } from './refusals.js';
import { certificateFindings, type TlsMaterial } from './tls-certs.js';

/** What mqtt.js (and node:tls under it) takes for a TLS connection. */
export interface TlsClientOptions {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
  servername?: string;
}

export interface TlsReadDeps {
  /** The config file's directory: relative paths in mqtt.tls resolve from it. */
  baseDir: string;
  /** Where CREDENTIALS_DIRECTORY is looked up. */
  env: Readonly<Record<string, string | undefined>>;
}

async function readPem(key: string, file: string): Promise<{ file: string; pem: string }> {
  try {
    return { file, pem: (await readRegularFile(file)).toString('utf8') };
  } catch (err) {
    throw new LinesideError('LS_CONFIG_INVALID', `${key}: ${file} cannot be read (${errorMessage(err)})`, {
      cause: err,
    });
  }
}

/**
 * Reads the files of `mqtt.tls` once (the key from the systemd credential mqtt_tls_key when there is one). Throws
 * LS_CONFIG_INVALID when a file cannot be read, or holds nothing usable; never logs key material.
 */
export async function readTlsMaterial(tls: MqttTlsConfig, deps: TlsReadDeps): Promise<TlsMaterial> {
  const resolve = (file: string): string => path.resolve(deps.baseDir, file);
  const keyFile = tls.key === undefined ? undefined : resolve(tls.key);
  const key = await readSecretFile(mqttTlsKeySource(keyFile), deps.env);
  return {
    ...(tls.ca === undefined ? {} : { ca: await readPem('mqtt.tls.ca', resolve(tls.ca)) }),
    ...(tls.cert === undefined ? {} : { cert: await readPem('mqtt.tls.cert', resolve(tls.cert)) }),
    ...(key === undefined ? {} : { key: { from: key.from, pem: key.value } }),
  };
}

/**
 * The TLS options for the client, from `mqtt.tls`; undefined without it (a plain or system-CA connection).
 * Material that can never work (unparseable, a key that is not the certificate's) fails start with
 * LS_CONFIG_INVALID; dates only warn (LS_MQTT_TLS), since the broker is the judge and the clock may be wrong.
 * reject_unauthorized: false warns at every start.
 */
export async function loadTlsOptions(
  tls: MqttTlsConfig | undefined,
  deps: TlsReadDeps & { logger: Logger },
): Promise<TlsClientOptions | undefined> {
  if (tls === undefined) return undefined;
  const material = await readTlsMaterial(tls, deps);
  const findings = certificateFindings(material);
  const fatal = findings.filter((f) => f.fatal);
  if (fatal.length > 0)
    throw new LinesideError('LS_CONFIG_INVALID', fatal.map((f) => `${f.subject}: ${f.detail}`).join('\n'));
  for (const f of findings.filter((x) => x.status !== 'ok'))
    deps.logger.warn({ code: 'LS_MQTT_TLS', key: f.subject }, `MQTT TLS: ${f.detail}`);
  if (!tls.reject_unauthorized)
    deps.logger.warn(
      { code: 'LS_MQTT_TLS', key: 'mqtt.tls.reject_unauthorized' },
      'MQTT TLS: the broker certificate is NOT verified (mqtt.tls.reject_unauthorized: false); anyone on the network can pose as the broker',
    );
  return {
    ...(material.ca ? { ca: material.ca.pem } : {}),
    ...(material.cert ? { cert: material.cert.pem } : {}),
    ...(material.key ? { key: material.key.pem } : {}),
    rejectUnauthorized: tls.reject_unauthorized,
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
  };
}

/** MQTT 3.1.1 CONNACK 4/5 and MQTT 5 0x86/0x87/0x8C: the broker refused who we are, not where we are. */
const AUTH_REASON_CODES: ReadonlySet<number> = new Set([4, 5, 0x86, 0x87, 0x8c]);

/**
 * Node's certificate verification codes (UNABLE_TO_VERIFY_LEAF_SIGNATURE, SELF_SIGNED_CERT_IN_CHAIN,
 * CERT_HAS_EXPIRED, ...), its host name check (ERR_TLS_CERT_ALTNAME_INVALID) and OpenSSL alerts from the broker
 * (ERR_SSL_..._ALERT_BAD_CERTIFICATE, ..._CERTIFICATE_REQUIRED when mutual TLS wants a client certificate).
 */
const TLS_ERROR_CODE = /CERT|VERIFY|ISSUER|SELF_SIGNED|^ERR_SSL_|^ERR_TLS_|^EPROTO$/;

/** The error code for why a connection attempt failed: TLS, a refused login, or anything else. */
export function connectErrorCode(err: unknown): ErrorCode {
  const reasonCode = reasonCodeOf(err);
  if (reasonCode !== undefined && AUTH_REASON_CODES.has(reasonCode)) return 'LS_MQTT_AUTH';
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TLS_ERROR_CODE.test(code)) return 'LS_MQTT_TLS';
  return 'LS_MQTT_CONNECT';
}
