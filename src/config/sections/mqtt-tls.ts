import { z } from 'zod';

/**
 * TLS towards the broker (`mqtt.tls`): which CA to trust, and the client certificate for mutual TLS. Paths are
 * relative to the config file. The private key may instead come from the systemd credential `mqtt_tls_key`
 * (LoadCredentialEncrypted=), which wins over `key`, so it need not lie readable on disk.
 */
export const mqttTlsSection = z
  .strictObject({
    ca: z
      .string()
      .min(1)
      .optional()
      .describe(
        'PEM file of the CA certificate(s) that signed the broker certificate; without it the system CAs are trusted.',
      ),
    cert: z
      .string()
      .min(1)
      .optional()
      .describe('PEM file of the client certificate, for brokers that require one (mutual TLS).'),
    key: z
      .string()
      .min(1)
      .optional()
      .describe(
        'PEM file of the client certificate private key (unencrypted). The systemd credential mqtt_tls_key wins over it.',
      ),
    reject_unauthorized: z
      .boolean()
      .default(true)
      .describe(
        'Refuse a broker whose certificate does not verify against ca (or the system CAs) and its host name. false logs a warning at every start: anyone on the network can then pose as the broker.',
      ),
    servername: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Host name the broker certificate must carry (and sent as SNI), when it differs from the host in mqtt.url (e.g. a URL by IP address).',
      ),
  })
  .refine((tls) => tls.key === undefined || tls.cert !== undefined, {
    message: 'key needs cert (the client certificate it belongs to)',
    path: ['key'],
  })
  .describe(
    'TLS towards the broker; needs an mqtts://, ssl:// or wss:// url. Certificate files are read once at start.',
  );

export type MqttTlsConfig = z.infer<typeof mqttTlsSection>;

/** URL schemes mqtt.js connects over TLS; `mqtt.tls` is meaningless (and would be silently ignored) with others. */
export const TLS_SCHEMES: readonly string[] = ['mqtts:', 'ssl:', 'wss:'];
