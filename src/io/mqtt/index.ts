import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { MqttConfig } from '../../config/sections/mqtt.js';
import { mqttPasswordSource, readSecret } from '../../config/secrets.js';
import { errorMessage, isLinesideError, LinesideError, type ErrorCode } from '../../errors.js';
import type { Lifecycle } from '../../domain/ports.js';
import type { PartRecord } from '../../domain/part.js';
import type { RecordDatabase } from '../../record/database.js';
import { EmbeddedBroker } from './embedded-broker.js';
import { Outbox } from './outbox.js';
import {
  ALARM_NAME_RE,
  buildAlarmPayload,
  buildVerdictPayload,
  topicsFor,
  type AlarmEvent,
  type MqttCommand,
  type Topics,
} from './payload.js';
import { redactUrl } from '../../redact-url.js';
import { MqttPublisher } from './publisher.js';
import { buildStatePayload, type LineStateFacts } from './state-payload.js';
import { StateTopic } from './state-topic.js';
import { loadTlsOptions } from './tls-options.js';
import { SparkplugEdge, type StationFacts } from './sparkplug/edge.js';

export type {
  AlarmEvent,
  AlarmState,
  MqttCommand,
  AckCommand,
  Topics,
  VerdictPayload,
  AlarmPayload,
  StatusPayload,
} from './payload.js';
export { EmbeddedBroker } from './embedded-broker.js';
export { Outbox, outboxMigrations } from './outbox.js';
export { MqttPublisher } from './publisher.js';
export type { LineStateFacts, StatePayload } from './state-payload.js';

export interface MqttDeps {
  logger: Logger;
  lineId: string;
  /** Directory a relative `outbox_dir` is resolved against (the config file's directory). */
  baseDir: string;
  /**
   * The line record's open database, which holds the outbox (its migrations: `outboxMigrations`). Without it the
   * outbox holds messages in memory only, and the state's storageError says why (`recordError`).
   */
  database?: RecordDatabase;
  /** Why the line record could not be opened, when `database` is absent. */
  recordError?: string;
  /** The pipeline's run id, so status messages name the same run as the verdicts; a fresh UUID when omitted. */
  runId?: string;
  /** Where `password_env` and CREDENTIALS_DIRECTORY are looked up; process.env when omitted. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The line's counters, health and model for the retained `<prefix>/state`; no state topic when omitted. */
  lineState?: () => LineStateFacts | undefined;
  /** Model and health for the Sparkplug device's metrics (format sparkplug_b); unknown when omitted. */
  station?: StationFacts;
}

/** Counters and state for the run summary and health checks. */
export interface MqttState {
  connected: boolean;
  /** Messages not yet acknowledged by the broker (in the outbox, including in flight). */
  queued: number;
  inFlight: number;
  /** Messages the broker acknowledged since start. */
  sent: number;
  /** Oldest unsent messages dropped because the outbox was full (LS_MQTT_OUTBOX_FULL). */
  dropped: number;
  /** Messages the broker refused for good (MQTT 5 reason code >= 0x80) and that were dropped (LS_MQTT_REJECTED). */
  rejected: number;
  /** Unsent messages held in memory that the outbox could not store at stop (LS_MQTT_OUTBOX): lost with the process. */
  lostAtStop: number;
  outboxBytes: number;
  outboxDiskErrors: number;
  outboxDiskOk: boolean;
  /**
   * Why the outbox cannot store messages (no line record database, disk full or failing), null while it can; known
   * from start. While set, verdicts are still published but new ones wait in memory: show it in health and summary.
   */
  storageError: string | null;
  /** Unreadable lines skipped while importing an old segment outbox (mqtt.outbox_dir) at start. */
  outboxSkippedLines: number;
  connects: number;
  disconnects: number;
  /** The last error and its code (LS_MQTT_TLS, LS_MQTT_AUTH, LS_MQTT_REJECTED, LS_MQTT_CONNECT). */
  lastError: { message: string; at: string; code: ErrorCode } | null;
  /** The broker URL in use, without credentials; the embedded broker's actual address with url: embedded. */
  brokerUrl: string | null;
}

export interface Mqtt extends Lifecycle {
  readonly topics: Topics;
  readonly runId: string;
  /** Queues the verdict of a completed part; returns at once (never waits for disk or broker). */
  publishPart(record: PartRecord): void;
  /** Queues an alarm event, and the retained alarm state; returns at once. */
  publishAlarm(event: AlarmEvent): void;
  /** Commands from `<prefix>/cmd/ack`. Returns a function that removes the listener. */
  onCommand(listener: (command: MqttCommand) => void): () => void;
  state(): MqttState;
}

export function createMqtt(config: MqttConfig, deps: MqttDeps): Mqtt {
  return new MqttService({ config, ...deps });
}

class MqttService implements Mqtt {
  readonly topics: Topics;
  readonly runId: string;
  private readonly deps: MqttDeps & { config: MqttConfig };
  private readonly log: Logger;
  private readonly outbox: Outbox;
  private readonly listeners = new Set<(command: MqttCommand) => void>();
  private broker: EmbeddedBroker | undefined;
  private publisher: MqttPublisher | undefined;
  private brokerUrl: string | null = null;
  private lastSeq = 0;
  private readonly stateTopic: StateTopic | undefined;
  /** Set with format: sparkplug_b. */
  private readonly sparkplug: SparkplugEdge | undefined;

  constructor(deps: MqttDeps & { config: MqttConfig }) {
    this.deps = deps;
    this.log = deps.logger;
    this.runId = deps.runId ?? randomUUID();
    this.topics = topicsFor(deps.config.topic_prefix ?? `lineside/${deps.lineId}`);
    const legacyDir = isAbsolute(deps.config.outbox_dir)
      ? deps.config.outbox_dir
      : resolve(deps.baseDir, deps.config.outbox_dir);
    this.outbox = new Outbox({
      database: deps.database,
      unavailable: deps.recordError ?? 'the line record database is not available',
      legacyDir,
      maxBytes: Math.floor(deps.config.outbox_max_mb * 1024 * 1024),
      logger: deps.logger.child({ part_of: 'outbox' }),
    });
    if (deps.config.format === 'sparkplug_b') {
      this.sparkplug = new SparkplugEdge({
        config: deps.config.sparkplug,
        lineId: deps.lineId,
        runId: this.runId,
        // Beside the line record's database (the state directory); the old outbox directory without one.
        outboxDir: deps.database ? dirname(deps.database.file) : legacyDir,
        facts: deps.station ?? { model: () => undefined, healthy: () => undefined },
        logger: deps.logger.child({ part_of: 'sparkplug' }),
      });
    }
    const { lineState } = deps;
    if (lineState !== undefined)
      this.stateTopic = new StateTopic({
        topic: this.topics.state,
        intervalMs: deps.config.state_interval_s * 1000,
        snapshot: () => this.stateSnapshot(lineState()),
        logger: this.log,
      });
  }

  private stateSnapshot(facts: LineStateFacts | undefined): string | undefined {
    if (facts === undefined) return undefined;
    const { pending, dropped } = this.outbox.stats();
    const ids = { runId: this.runId, lineId: this.deps.lineId };
    return JSON.stringify(buildStatePayload(facts, { queued: pending, dropped }, ids));
  }

  /** Opens the outbox, starts the embedded broker if configured, and connects in the background (never waits for a broker). */
  async start(signal: AbortSignal): Promise<void> {
    const { config } = this.deps;
    if (config.outbox_fsync !== undefined) {
      const why =
        'mqtt.outbox_fsync is deprecated and ignored: the outbox lives in the line record, synced every record.sync_interval_ms';
      this.log.warn({ outbox_fsync: config.outbox_fsync }, why);
    }
    await this.outbox.start(signal);
    let url = config.url;
    let protocolVersion = config.protocol_version;
    if (config.url === 'embedded') {
      const broker = new EmbeddedBroker({
        port: config.embedded_port,
        logger: this.log.child({ part_of: 'embedded-broker' }),
      });
      try {
        await broker.start(signal);
      } catch (err) {
        await this.outbox.stop();
        throw err;
      }
      this.broker = broker;
      url = broker.url;
      if (protocolVersion !== 4) {
        this.log.info({ configured: protocolVersion }, 'embedded broker speaks MQTT 3.1.1: using protocol_version 4');
        protocolVersion = 4;
      }
    }
    this.brokerUrl = url;
    try {
      await this.startPublisher(signal, url, protocolVersion);
    } catch (err) {
      // Leave nothing running behind a failed start: the caller will not call stop().
      this.stateTopic?.stop();
      await this.publisher?.stop();
      this.publisher = undefined;
      await this.broker?.stop();
      this.broker = undefined;
      await this.outbox.stop();
      if (isLinesideError(err)) throw err;
      throw new LinesideError(
        'LS_MQTT_CONNECT',
        `MQTT client could not start for ${redactUrl(url)}: ${errorMessage(err)}`,
        { cause: err },
      );
    }
  }

  private async startPublisher(signal: AbortSignal, url: string, protocolVersion: 4 | 5): Promise<void> {
    const { config } = this.deps;
    this.publisher = new MqttPublisher({
      url,
      protocolVersion,
      clientId: config.client_id ?? `lineside-${this.deps.lineId}`,
      username: config.username,
      password: await readSecret(mqttPasswordSource(config), this.deps.env ?? process.env),
      tls: await loadTlsOptions(config.tls, {
        baseDir: this.deps.baseDir,
        env: this.deps.env ?? process.env,
        logger: this.log,
      }),
      qos: config.qos,
      keepaliveS: config.keepalive_s,
      reconnectMs: config.reconnect_ms,
      maxInFlight: config.max_in_flight,
      topics: this.topics,
      outbox: this.outbox,
      logger: this.log,
      runId: this.runId,
      lineId: this.deps.lineId,
      lastSeq: () => this.lastSeq,
      onCommand: (command) => this.dispatch(command),
      ...(this.stateTopic ? { onConnected: (client: MqttClient) => this.stateTopic?.connected(client) } : {}),
      ...(this.sparkplug ? { session: this.sparkplug.session } : {}),
    });
    this.stateTopic?.start();
    await this.publisher.start(signal);
  }

  /** The last state snapshot (final counters) goes out before the publisher drains and says offline. */
  async stop(): Promise<void> {
    this.stateTopic?.publish();
    this.stateTopic?.stop();
    await this.publisher?.stop();
    await this.outbox.stop();
    await this.broker?.stop();
    this.broker = undefined;
  }

  publishPart(record: PartRecord): void {
    this.lastSeq = Math.max(this.lastSeq, record.seq);
    if (this.sparkplug) {
      this.outbox.enqueue(this.sparkplug.partMessage(record));
      return;
    }
    const payload = buildVerdictPayload(record, this.deps.lineId, new Date());
    this.outbox.enqueue({ topic: this.topics.verdict, payload: JSON.stringify(payload), retain: false });
  }

  publishAlarm(event: AlarmEvent): void {
    let alarm = event.alarm;
    if (!ALARM_NAME_RE.test(alarm)) {
      alarm = alarm.replace(/[^A-Za-z0-9_-]/g, '_') || 'alarm';
      this.log.warn(
        { alarm: event.alarm, topicLevel: alarm },
        'alarm name is not a valid topic level; characters replaced',
      );
    }
    if (this.sparkplug) {
      this.outbox.enqueue(this.sparkplug.alarmMessage({ ...event, alarm }));
      return;
    }
    const payload = JSON.stringify(
      buildAlarmPayload({ ...event, alarm }, { runId: this.runId, lineId: this.deps.lineId }),
    );
    this.outbox.enqueue({ topic: this.topics.alarm, payload, retain: false });
    // Retained per-kind state: a client subscribing to <prefix>/alarm/state/+ sees exactly the open alarms.
    // An alarm stays open until acknowledged (or cleared); the empty retained message then deletes its state.
    this.outbox.enqueue({
      topic: this.topics.alarmState(alarm),
      payload: event.state === 'raised' ? payload : '',
      retain: true,
    });
  }

  onCommand(listener: (command: MqttCommand) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  state(): MqttState {
    const outbox = this.outbox.stats();
    const publisher = this.publisher?.snapshot();
    return {
      connected: publisher?.connected ?? false,
      queued: outbox.pending,
      inFlight: outbox.inFlight,
      sent: publisher?.sent ?? 0,
      dropped: outbox.dropped,
      rejected: outbox.rejected,
      lostAtStop: outbox.lostAtStop,
      outboxBytes: outbox.pendingBytes,
      outboxDiskErrors: outbox.diskErrors,
      outboxDiskOk: outbox.diskOk,
      storageError: outbox.storageError,
      outboxSkippedLines: outbox.skippedLines,
      connects: publisher?.connects ?? 0,
      disconnects: publisher?.disconnects ?? 0,
      lastError: publisher?.lastError ?? null,
      brokerUrl: this.brokerUrl === null ? null : redactUrl(this.brokerUrl),
    };
  }

  private dispatch(command: MqttCommand): void {
    for (const listener of this.listeners) listener(command);
  }
}
