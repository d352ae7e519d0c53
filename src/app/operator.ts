import path from 'node:path';
import type { Config } from '../config/schema.js';
import type { CapturedImage } from '../domain/ports.js';
import type { LineRecordReader } from '../domain/record.js';
import { OperatorServer } from '../http/server.js';
import type { OperatorDeps } from '../http/types.js';
import type { Logger } from '../log.js';
import type { AlarmDesk } from './commands.js';
import type { AppComponents } from './components.js';
import { DiskSpace } from './disk.js';
import type { HealthReport } from './health.js';
import type { PartSink } from './parts.js';
import type { Stage } from './stages.js';
import type { RunSummary } from './summary.js';

/**
 * Every image the line captures, handed to whoever listens (the operator view's thumbnails) after the capture
 * resolved. A listener that throws is ignored: it must never fail a part.
 */
export class ImageTap {
  private readonly listeners = new Set<(image: CapturedImage) => void>();

  emit(image: CapturedImage): void {
    for (const listener of this.listeners) {
      try {
        listener(image);
      } catch {
        // The operator view is best effort; the part goes on.
      }
    }
  }

  on(listener: (image: CapturedImage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export interface OperatorStageDeps {
  config: Config;
  baseDir: string;
  logger: Logger;
  env: Readonly<Record<string, string | undefined>>;
  runId: string;
  parts: AppComponents;
  desk: AlarmDesk;
  sink: PartSink;
  images: ImageTap;
  disk: DiskSpace;
  record: LineRecordReader | undefined;
  health: () => HealthReport;
  summary: () => RunSummary;
}

/** Where the daemon keeps its state on disk (the outbox), measured for the disk-space health. */
export function diskSpace(config: Config, baseDir: string): DiskSpace {
  const dir = path.isAbsolute(config.mqtt.outbox_dir)
    ? config.mqtt.outbox_dir
    : path.resolve(baseDir, config.mqtt.outbox_dir);
  return new DiskSpace({ dir, minFreeBytes: config.http.min_free_disk_mb * 2 ** 20 });
}

function operatorDeps(d: OperatorStageDeps): OperatorDeps {
  const { parts } = d;
  return {
    config: d.config.http,
    logger: d.logger.child({ component: 'http' }),
    env: d.env,
    lineId: d.config.line_id,
    runId: d.runId,
    health: d.health,
    summary: d.summary,
    alarms: () => parts.line?.activeAlarms() ?? [],
    acknowledge: (target, by) =>
      d.desk.command(
        target === undefined ? { by } : target.startsWith(`${d.runId}-`) ? { id: target, by } : { alarm: target, by },
      ),
    model: () => parts.inspector?.info,
    inspector: () => parts.inspector,
    mqtt: () => parts.mqtt?.state(),
    record: d.record,
    onPart: (listener) => d.sink.onPart(listener),
    onImage: (listener) => d.images.on(listener),
  };
}

/**
 * The operator view as a stage (after MQTT, before the line is armed, so a taken port fails the start before any
 * part is inspected). stopEarly() closes it at the start of the daemon's stop: no acknowledgement or upload
 * arrives while the line drains, and the live streams end at once.
 */
export function operatorStage(d: OperatorStageDeps): { stage: Stage; server: () => OperatorServer | undefined } {
  let server: OperatorServer | undefined;
  const stop = async (): Promise<void> => {
    d.disk.stop();
    await server?.stop();
  };
  const stage: Stage = {
    name: 'http',
    start: async (signal) => {
      if (!d.config.http.enabled) return;
      await d.disk.start();
      server = new OperatorServer(operatorDeps(d));
      await server.start(signal).catch(async (err: unknown) => {
        await stop();
        throw err;
      });
    },
    stop,
  };
  return { stage, server: () => server };
}
