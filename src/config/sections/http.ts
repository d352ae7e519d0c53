import { z } from 'zod';

/** The operator view's HTTP server (docs/operator.md). Never on the gate path. */
export const httpSection = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Serve the dashboard, /healthz, /metrics and the API.'),
    host: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .describe(
        'Address to listen on. Anything but loopback (127.0.0.1, ::1, localhost) requires a token for every request that changes something.',
      ),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(8470)
      .describe('TCP port (0 = any free port, for tests; `lineside status` then needs --url). Taken: exit 69.'),
    token_env: z
      .string()
      .default('LINESIDE_HTTP_TOKEN')
      .describe(
        'Environment variable holding the API token; a systemd credential named http_token wins. Required when host is not loopback.',
      ),
    min_free_disk_mb: z
      .number()
      .int()
      .min(0)
      .default(200)
      .describe('MiB: /healthz reports disk space degraded below this much free space where the outbox lives.'),
    recent_images: z
      .number()
      .int()
      .min(0)
      .max(500)
      .default(60)
      .describe('Images of the latest parts kept in memory for the dashboard when there is no line record.'),
  })
  .describe('The operator view: dashboard, health, metrics and the API the CLI uses (docs/operator.md).');

export type HttpConfig = z.infer<typeof httpSection>;

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Whether the server only listens on this machine (then changes need no token). */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\./.test(host);
}
