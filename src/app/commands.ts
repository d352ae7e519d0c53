import type { AckCommand, Mqtt } from '../io/mqtt/index.js';
import type { Logger } from '../log.js';
import type { AlarmRecord } from '../pipeline/alarms.js';

/** Where alarms live (the line) and where they are announced (MQTT); either is absent before its stage started. */
export interface AlarmDeskDeps {
  line: () => { acknowledge(idOrAll: string): AlarmRecord[]; activeAlarms(): AlarmRecord[] } | undefined;
  mqtt: () => Mqtt | undefined;
  logger: Logger;
}

/** Alarms between the line, the log and SCADA: raised ones are announced, acknowledgements come from the CLI or cmd/ack. */
export class AlarmDesk {
  constructor(private readonly deps: AlarmDeskDeps) {}

  /** An alarm the line raised: an error line (someone must act) and the alarm event and retained state on MQTT. */
  raised(alarm: AlarmRecord): void {
    const fields = { code: 'LS_ALARM', alarm: alarm.id, kind: alarm.kind, part: alarm.partId, repeats: alarm.repeats };
    this.deps.logger.error(fields, `alarm: ${alarm.message}`);
    this.deps.mqtt()?.publishAlarm({
      alarm: alarm.kind,
      id: alarm.id,
      state: 'raised',
      message: alarm.message,
      details: { part_id: alarm.partId ?? null, repeats: alarm.repeats },
    });
  }

  /** Acknowledge an alarm by occurrence id, or 'all'; returns the alarms acknowledged. */
  acknowledge(idOrAll: string, by: string): AlarmRecord[] {
    const acked = this.deps.line()?.acknowledge(idOrAll) ?? [];
    for (const alarm of acked) {
      this.deps.logger.info({ alarm: alarm.id, kind: alarm.kind, by }, 'alarm acknowledged');
      this.deps
        .mqtt()
        ?.publishAlarm({ alarm: alarm.kind, id: alarm.id, state: 'acknowledged', message: alarm.message, by });
    }
    if (acked.length === 0) this.deps.logger.warn({ alarm: idOrAll, by }, 'acknowledge: no such active alarm');
    return acked;
  }

  /** A cmd/ack command (or the operator view's, or `lineside ack`'s): by occurrence id, or every open alarm of a kind, or (neither given) every open alarm. */
  command(command: Omit<AckCommand, 'type'>): AlarmRecord[] {
    const by = command.by ?? 'mqtt';
    if (command.id !== undefined) return this.acknowledge(command.id, by);
    if (command.alarm === undefined) return this.acknowledge('all', by);
    const ofKind = (this.deps.line()?.activeAlarms() ?? []).filter((a) => a.kind === command.alarm);
    if (ofKind.length === 0)
      this.deps.logger.warn({ alarm: command.alarm, by }, 'acknowledge: no open alarm of that kind');
    return ofKind.flatMap((alarm) => this.acknowledge(alarm.id, by));
  }
}
