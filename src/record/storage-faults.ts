import type { Logger } from 'pino';

/** What can go wrong with the record's storage; each kind clears on its own next success. */
export type StorageFaultKind = 'history' | 'archive' | 'space' | 'maintenance';

export interface RecordHealth {
  healthy: boolean;
  /** Why not, for /healthz and the operator; null when healthy. */
  reason: string | null;
}

/**
 * The line record's storage faults: a history insert or an image write that failed (full or failing disk), or a
 * free-space floor that cannot be kept. A new fault is an error line and a 'storage' alarm (through `onFault`,
 * raised once while it is open: the alarm's repeats count the rest); inspection never waits for any of it.
 */
export class StorageFaults {
  private readonly open = new Map<StorageFaultKind, string>();
  private readonly counts: Record<StorageFaultKind, number> = { history: 0, archive: 0, space: 0, maintenance: 0 };

  constructor(
    private readonly logger: Logger,
    private readonly onFault: (message: string) => void,
  ) {}

  set(kind: StorageFaultKind, message: string, code = 'LS_RECORD_IO'): void {
    this.counts[kind] += 1;
    if (this.open.has(kind)) return;
    this.open.set(kind, message);
    this.logger.error({ code, fault: kind, err: message }, `line record storage: ${message} (inspection goes on)`);
    this.onFault(message);
  }

  clear(kind: StorageFaultKind): void {
    if (!this.open.delete(kind)) return;
    this.logger.info({ fault: kind }, 'line record storage recovered');
  }

  health(): RecordHealth {
    const reasons = [...this.open.values()];
    return { healthy: reasons.length === 0, reason: reasons.length === 0 ? null : reasons.join('; ') };
  }

  /** Failures of each kind since start (including those while the fault was already open). */
  failures(): Record<StorageFaultKind, number> {
    return { ...this.counts };
  }
}
