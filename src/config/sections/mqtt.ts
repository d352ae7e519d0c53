import { z } from 'zod';
import { mqttTlsSection, TLS_SCHEMES } from './mqtt-tls.js';
import { mqttFormatKeys } from './sparkplug.js';

const BROKER_SCHEMES = ['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'ws:', 'wss:'];
const BROKER_URL_FORMS =
  'must be "embedded" or a broker URL with scheme mqtt, mqtts, tcp, ssl, ws or wss and a host, e.g. mqtt://broker.local:1883';

/** Typos like `mqtt//host:1883` or `host:1883` would otherwise pass here and fail only when the client connects. */
function isBrokerUrl(value: string): boolean {
  if (value === 'embedded') return true;
  try {
    const url = new URL(value);
    return BROKER_SCHEMES.includes(url.protocol) && url.hostname !== '';
  } catch {
    return false;
  }
}

export const mqttSection = z
  .strictObject({
    url: z
      .string()
      .min(1)
      .refine(isBrokerUrl, { message: BROKER_URL_FORMS })
      .default('embedded')
      .describe(
        'Broker URL with scheme mqtt, mqtts, tcp, ssl, ws or wss and a host (mqtt://broker.local:1883), or "embedded" for an in-process MQTT 3.1.1 broker.',
      ),
    embedded_port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(1883)
      .describe('TCP port of the embedded broker on 127.0.0.1 (0 = any free port); only with url: embedded.'),
    protocol_version: z
      .union([z.literal(4), z.literal(5)])
      .default(5)
      .describe('MQTT 3.1.1 (4) or 5. The embedded broker speaks 4 only.'),
    client_id: z.string().min(1).optional().describe('MQTT client id; default lineside-<line_id>.'),
    username: z.string().optional().describe('Broker user name.'),
    password_env: z
      .string()
      .default('LINESIDE_MQTT_PASSWORD')
      .describe(
        'Environment variable holding the broker password; a systemd credential named mqtt_password wins. Empty is an error.',
      ),
    topic_prefix: z
      .string()
      .regex(/^[^#+]+$/, 'must not contain MQTT wildcards')
      .optional()
      .describe('Topic prefix; default lineside/<line_id>.'),
    qos: z
      .union([z.literal(1), z.literal(2)])
      .default(1)
      .describe('QoS of verdict messages (at least once, or exactly once).'),
    keepalive_s: z.number().int().min(1).max(3600).default(15).describe('Seconds between MQTT keep-alive pings.'),
    reconnect_ms: z
      .number()
      .int()
      .min(100)
      .max(600_000)
      .default(2000)
      .describe('Milliseconds between reconnect attempts.'),
    outbox_dir: z
      .string()
      .min(1)
      .default('var/outbox')
      .describe(
        'Directory of the segment-file outbox of earlier versions, read once: its unsent messages are imported into the line record (record.dir) at the first start and the directory gets the suffix .migrated. Relative to the config file.',
      ),
    max_in_flight: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(16)
      .describe(
        'Messages published but not yet acknowledged by the broker (PUBACK) at any time; later ones wait in the outbox.',
      ),
    outbox_fsync: z
      .boolean()
      .optional()
      .describe(
        'Deprecated and ignored (accepted so that older configs still start; a warning says so): the outbox lives in the line record, which a thread syncs every record.sync_interval_ms.',
      ),
    outbox_max_mb: z
      .number()
      .min(1)
      .max(2048)
      .default(256)
      .describe(
        'Megabytes of unsent messages the outbox may hold in the line record; past it the oldest unsent verdicts are dropped (LS_MQTT_OUTBOX_FULL). A disk budget: memory holds only the in-flight window and one page of the next messages (while nothing can be written, at most min(outbox_max_mb, 32) MB wait in memory).',
      ),
    ...mqttFormatKeys,
    state_interval_s: z
      .number()
      .min(1)
      .max(3600)
      .default(10)
      .describe(
        'Seconds between retained <prefix>/state snapshots (counters, yield, health, model); one is also sent at every connect.',
      ),
    tls: mqttTlsSection.optional(),
  })
  .refine((mqtt) => mqtt.tls === undefined || TLS_SCHEMES.some((scheme) => mqtt.url.startsWith(scheme)), {
    message: 'needs an mqtts://, ssl:// or wss:// url (mqtt.tls is set)',
    path: ['url'],
  })
  // mqtt.js hands a WebSocket only ca, cert, key and rejectUnauthorized: a servername would be silently ignored.
  .refine((mqtt) => mqtt.tls?.servername === undefined || !mqtt.url.startsWith('wss:'), {
    message: 'is not supported with a wss:// url (the WebSocket client ignores it); use mqtts://',
    path: ['tls', 'servername'],
  })
  .describe('Verdicts, alarms and state to plant SCADA over MQTT.');

export type MqttConfig = z.infer<typeof mqttSection>;
