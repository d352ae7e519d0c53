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
    retention_days: z
      .number()
      .min(1)
      .max(3650)
      .default(30)
      .describe(
        'Days each part of the verdict history and its archived image are kept (pruned by age of the part; at least 1, so every hour is aggregated before its parts go).',
      ),
    aggregate_retention_days: z
      .number()
      .min(1)
      .max(36_500)
      .default(730)
      .describe('Days the hourly aggregates (parts, rejects by reason, yield, latency percentiles) are kept.'),
    near_threshold: z
      .number()
      .min(0)
      .max(1)
      .default(0.1)
      .describe(
        'A passed part whose defect score lies within this distance of the model threshold has its image archived (besides every reject).',
      ),
    sample_passes: z
      .number()
      .int()
      .min(0)
      .default(100)
      .describe('1 in this many other passed parts has its image archived (0: none).'),
    min_free_mb: z
      .number()
      .int()
      .min(0)
      .default(1024)
      .describe(
        'Free-space floor of the file system holding record.dir, in MiB: the oldest archived images are deleted to keep it; an image that would go below it is dropped when nothing is left to delete.',
      ),
    archive_queue: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(64)
      .describe(
        'Images waiting to be written to the archive at most; one more is dropped and counted (the gate path never waits for the disk).',
      ),
    maintenance_interval_ms: z
      .number()
      .int()
      .min(1000)
      .max(3_600_000)
      .default(60_000)
      .describe('Milliseconds between runs of the pruning by age and free space and of the hourly aggregates.'),
  })
  .describe('The line record: outbox, verdict history and image archive in one database.');

export type RecordConfig = z.infer<typeof recordSection>;
