import { z } from 'zod';

/** Sparkplug B ids are MQTT topic levels: no `/`, `+` or `#` (Sparkplug 3.0, tck-id-topic-structure). */
const SPARKPLUG_ID_RE = /^[^/+#]+$/;
const ID_RULE = 'must be a non-empty topic level without /, + or #';

const sparkplugId = (): z.ZodString => z.string().regex(SPARKPLUG_ID_RE, ID_RULE);

export const sparkplugSection = z
  .strictObject({
    group_id: sparkplugId()
      .default('lineside')
      .describe('Sparkplug group id: the second topic level (spBv1.0/<group_id>/...); Ignition shows it as the group.'),
    edge_node_id: sparkplugId().optional().describe('Sparkplug edge node id (this daemon); default the line_id.'),
    device_id: sparkplugId()
      .default('station')
      .describe('Sparkplug device id of the inspection station; its metrics come in DBIRTH/DDATA.'),
    primary_host: sparkplugId()
      .optional()
      .describe(
        'Host application id of the primary host (Ignition MQTT Engine "Primary Host ID"). When set, births and data are held until spBv1.0/STATE/<primary_host> says online, and held again while it is offline.',
      ),
  })
  .describe('Sparkplug B edge node (only with mqtt.format: sparkplug_b; docs/sparkplug.md).');

export type SparkplugConfig = z.infer<typeof sparkplugSection>;

export const MQTT_FORMATS = ['json', 'sparkplug_b'] as const;

export const mqttFormatKeys = {
  format: z
    .enum(MQTT_FORMATS)
    .default('json')
    .describe(
      'Payload format: json (lineside topics, docs/mqtt.md) or sparkplug_b (Sparkplug B edge node and device, docs/sparkplug.md).',
    ),
  sparkplug: sparkplugSection.default(() => sparkplugSection.parse({})),
};
