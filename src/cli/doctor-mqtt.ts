import type { LoadedConfig } from '../config/load.js';
import { mqttPasswordSource, readSecret } from '../config/secrets.js';
import { errorCode, errorMessage, ERROR_CODES, type ErrorCode } from '../errors.js';
import { certificateFindings } from '../io/mqtt/tls-certs.js';
import { connectErrorCode, loadTlsOptions, readTlsMaterial, type TlsClientOptions } from '../io/mqtt/tls-options.js';
import type { Logger } from '../log.js';
import { redactUrl } from '../redact-url.js';
import type { Check } from './doctor.js';

function failed(name: string, err: unknown): Check {
  const code = errorCode(err);
  return { name, status: 'fail', detail: errorMessage(err), code, action: ERROR_CODES[code].action };
}

function coded(code: ErrorCode): Pick<Check, 'code' | 'action'> {
  return { code, action: ERROR_CODES[code].action };
}

/** The certificate files of mqtt.tls: readable, parseable, in their dates, and the key the certificate's. */
export async function tlsChecks(loaded: LoadedConfig, env: NodeJS.ProcessEnv): Promise<Check[]> {
  const { tls } = loaded.config.mqtt;
  if (tls === undefined) return [];
  let findings;
  try {
    findings = certificateFindings(await readTlsMaterial(tls, { baseDir: loaded.baseDir, env }));
  } catch (err) {
    return [failed('mqtt tls', err)];
  }
  const checks: Check[] = findings.map((f) => ({
    name: f.subject,
    status: f.status,
    detail: f.detail,
    ...(f.status === 'ok' ? {} : { ...coded('LS_MQTT_TLS'), ...(f.action === undefined ? {} : { action: f.action }) }),
  }));
  if (tls.ca === undefined)
    checks.push({ name: 'mqtt.tls.ca', status: 'ok', detail: 'not set: the system CAs verify the broker' });
  if (!tls.reject_unauthorized)
    checks.push({
      name: 'mqtt.tls',
      status: 'warn',
      detail:
        'reject_unauthorized: false: the broker certificate is not verified; anyone on the network can pose as the broker',
      ...coded('LS_MQTT_TLS'),
      action: 'Give mqtt.tls.ca the CA that signed the broker certificate and remove reject_unauthorized: false.',
    });
  return checks;
}

/**
 * One connection as the daemon makes it (credentials, TLS). An unreachable broker is a warning (inspection runs
 * without it, verdicts wait in the outbox); a failed handshake or a refused login will not fix itself: a failure.
 */
export async function brokerCheck(loaded: LoadedConfig, env: NodeJS.ProcessEnv, logger: Logger): Promise<Check> {
  const { mqtt } = loaded.config;
  const name = 'mqtt broker';
  if (mqtt.url === 'embedded')
    return { name, status: 'ok', detail: `embedded broker on 127.0.0.1:${mqtt.embedded_port}` };
  const { connectAsync } = await import('mqtt');
  let password: string | undefined;
  let tls: TlsClientOptions | undefined;
  try {
    password = await readSecret(mqttPasswordSource(mqtt), env);
    tls = await loadTlsOptions(mqtt.tls, { baseDir: loaded.baseDir, env, logger });
  } catch (err) {
    return failed(name, err);
  }
  try {
    const client = await connectAsync(mqtt.url, {
      protocolVersion: mqtt.protocol_version,
      connectTimeout: 3000,
      reconnectPeriod: 0,
      clientId: `lineside-doctor-${process.pid}`,
      ...(mqtt.username === undefined ? {} : { username: mqtt.username }),
      ...(password === undefined ? {} : { password }),
      ...tls,
    });
    await client.endAsync();
    const how = tls === undefined ? '' : ` over TLS${tls.cert === undefined ? '' : ' with the client certificate'}`;
    return { name, status: 'ok', detail: `${redactUrl(mqtt.url)} accepts the connection${how}` };
  } catch (err) {
    const code = connectErrorCode(err);
    const status = code === 'LS_MQTT_CONNECT' ? 'warn' : 'fail';
    return { name, status, detail: `${redactUrl(mqtt.url)}: ${errorMessage(err)}`, ...coded(code) };
  }
}
