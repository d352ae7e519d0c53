import { z } from 'zod';

/** The line record (docs/record.md): one SQLite database in the state directory. */
export const recordSection = z
  .strictObject({
    dir: z
      .string()
      .min(1)
      .default('var')
      .describe(
        'State directory holding the line record database (lineside.db) and the image archive; /var/lib/lineside under systemd (StateDirectory). Relative to the config file.',
      ),
    sync_interval_ms: z
      .number()
      .int()
      .min(100)
      .max(60_000)
      .default(1000)
      .describe(
        'Milliseconds between syncs of the record to disk (a checkpoint with fsync, off the event loop). A process crash loses nothing committed; a power cut may lose the commits of the last interval.',
      ),
  })
  .describe('The line record: outbox, verdict history and image archive in one database.');

export type RecordConfig = z.infer<typeof recordSection>;
