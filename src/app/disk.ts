import { statfs } from 'node:fs/promises';
import path from 'node:path';
import type { DiskStatus } from './health.js';

/**
 * Free space where the daemon keeps its state, measured every few seconds off the gate path (statfs is
 * asynchronous), so health reports read a number instead of waiting for the disk.
 */
export class DiskSpace {
  private last: DiskStatus | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: { dir: string; minFreeBytes: number; everyMs?: number }) {}

  get status(): DiskStatus | undefined {
    return this.last;
  }

  async start(): Promise<void> {
    await this.measure();
    this.timer = setInterval(() => void this.measure(), this.deps.everyMs ?? 10_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The state directory, or the nearest parent that exists (the outbox may not be made yet). */
  private async measure(): Promise<void> {
    let dir = path.resolve(this.deps.dir);
    for (;;) {
      try {
        const fs = await statfs(dir);
        this.last = { path: dir, freeBytes: fs.bavail * fs.bsize, minFreeBytes: this.deps.minFreeBytes };
        return;
      } catch {
        const parent = path.dirname(dir);
        if (parent === dir) return;
        dir = parent;
      }
    }
  }
}
