import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { errorMessage, type ErrorCode } from '../../errors.js';
import { LogThrottle } from '../../log-throttle.js';
import { redactUrl } from '../../redact-url.js';
import type { Lifecycle } from '../../domain/ports.js';
import type { Outbox, OutboxEntry } from './outbox.js';
import { Refusals, reasonCodeOf } from './refusals.js';
import { buildStatusPayload, parseAckCommand, type MqttCommand, type Topics } from './payload.js';
import { connectErrorCode, type TlsClientOptions } from './tls-options.js';
import type { PublisherSession } from './session.js';
import { withTimeout } from './with-timeout.js';

export interface PublisherDeps {
  /** Broker URL; credentials in it are accepted but never logged. */
  url: string;
  protocolVersion: 4 | 5;
  clientId: string;
  username?: string;
  password?: string;
  /** CA, client certificate and key from mqtt.tls (tls-options.ts); with an mqtts/ssl/wss url only. */
  tls?: TlsClientOptions;
  qos: 1 | 2;
  keepaliveS: number;
  reconnectMs: number;
  maxInFlight: number;
  topics: Topics;
  outbox: Outbox;
  logger: Logger;
  runId: string;
  lineId: string;
  /** Last part seq handed to MQTT, reported in the clean-stop status message. */
  lastSeq: () => number;
  onCommand: (command: MqttCommand) => void;
  /** Each successful (re)connect, after the online status: latest-value topics publish their current value. */
  onConnected?: (client: MqttClient) => void;
  /** Bounded drain at stop: milliseconds to finish sending the outbox and the offline status. Default 3000. */
  stopTimeoutMs?: number;
  /** Milliseconds between "still unreachable" reminders while disconnected. Default 60000. */
  reminderIntervalMs?: number;
  /** Refusals (MQTT 5 reason code >= 0x80) of the same message before it is dropped as rejected. Default 5. */
  maxRefusals?: number;
  /** Another payload format's session (Sparkplug B) instead of the JSON status topic and ack commands. */
  session?: PublisherSession;
}

const REJECT_LOG_INTERVAL_MS = 60_000;

export interface PublisherState {
  connected: boolean;
  /** Verdicts/alarms acknowledged by the broker since start. */
  sent: number;
  inFlight: number;
  connects: number;
  disconnects: number;
  /** The last error, with its code: LS_MQTT_TLS (handshake), LS_MQTT_AUTH (login refused), else LS_MQTT_CONNECT. */
  lastError: { message: string; at: string; code: ErrorCode } | null;
  /** Wall-clock ISO time of the last successful connect, null before the first. */
  connectedSince: string | null;
}

/**
 * Sends outbox entries in order with QoS 1/2 and acks each in the outbox only on PUBACK (PUBCOMP for QoS 2).
 *
 * It publishes only while connected and keeps at most `maxInFlight` messages on the wire; everything else
 * waits in the outbox, so mqtt.js's unbounded in-memory offline queue stays empty. Messages on the wire when
 * a connection drops stay in mqtt.js's outgoing store (bounded by the window) and are resent by it on
 * reconnect, before any new publish; after a restart they come from the outbox instead.
 */
export class MqttPublisher implements Lifecycle {
  private readonly deps: PublisherDeps;
  private readonly log: Logger;
  private client: MqttClient | undefined;
  private stopping = false;
  private inFlight = 0;
  private pausedUntilMs = 0;
  private pauseTimer: NodeJS.Timeout | undefined;
  private removeOutboxListener: (() => void) | undefined;
  private downSinceMs: number | undefined;
  private failedAttempts = 0;
  /** One line when the broker is lost or unreachable, then a reminder per interval: never one per retry. */
  private readonly downLog: LogThrottle;
  /** Refusals so far per outbox entry number, for refusal codes that may be transient (quota exceeded...). */
  private readonly refusals: Refusals;
  private readonly rejectLog = new LogThrottle(REJECT_LOG_INTERVAL_MS);
  private readonly state: PublisherState = {
    connected: false,
    sent: 0,
    inFlight: 0,
    connects: 0,
    disconnects: 0,
    lastError: null,
    connectedSince: null,
  };

  constructor(deps: PublisherDeps) {
    this.refusals = new Refusals(deps.maxRefusals ?? 5);
    this.deps = deps;
    this.log = deps.logger;
    this.downLog = new LogThrottle(deps.reminderIntervalMs ?? 60_000);
  }

  /** Returns at once: connecting and reconnecting happen in the background. */
  start(_signal: AbortSignal): Promise<void> {
    this.stopping = false;
    this.downSinceMs = Date.now();
    const { topics } = this.deps;
    const options: IClientOptions = {
      protocolVersion: this.deps.protocolVersion,
      clientId: this.deps.clientId,
      username: this.deps.username,
      password: this.deps.password,
      ...this.deps.tls,
      keepalive: this.deps.keepaliveS,
      reconnectPeriod: this.deps.reconnectMs,
      connectTimeout: Math.max(5000, this.deps.keepaliveS * 1000),
      reconnectOnConnackError: true,
      clean: true,
      resubscribe: false,
      queueQoSZero: false,
      will: {
        ...(this.deps.session?.will() ?? {
          topic: topics.status,
          payload: Buffer.from(JSON.stringify(buildStatusPayload('offline', 'connection_lost', this.ids()))),
          retain: true,
        }),
        qos: 1,
      },
    };
    this.log.info(
      {
        url: redactUrl(this.deps.url),
        protocolVersion: this.deps.protocolVersion,
        clientId: this.deps.clientId,
        username: this.deps.username ?? null,
        tls: this.deps.tls === undefined ? null : { clientCert: this.deps.tls.cert !== undefined },
      },
      'MQTT connecting in the background',
    );
    const client = connect(this.deps.url, options);
    this.client = client;
    client.on('connect', () => this.onConnect(client));
    client.on('close', () => this.onClose(client));
    client.on('error', (err) => this.onError(err));
    client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet.retain));
    this.removeOutboxListener = this.deps.outbox.onAvailable(() => this.pump());
    return Promise.resolve();
  }

  /** Bounded drain: sends what it can within stopTimeoutMs, publishes the retained offline status, disconnects. */
  async stop(): Promise<void> {
    const client = this.client;
    if (!client || this.stopping) return;
    const deadlineMs = Date.now() + (this.deps.stopTimeoutMs ?? 3000);
    if (client.connected) {
      await this.waitForDrain(deadlineMs);
      this.stopping = true;
      const last = this.deps.session?.farewell() ?? {
        topic: this.deps.topics.status,
        payload: JSON.stringify(
          buildStatusPayload('offline', 'stopped', { ...this.ids(), lastSeq: this.deps.lastSeq() }),
        ),
        retain: true,
      };
      try {
        await withTimeout(
          client.publishAsync(last.topic, last.payload, { qos: 1, retain: last.retain }),
          deadlineMs - Date.now(),
        );
      } catch (err) {
        this.log.warn(
          { code: 'LS_MQTT_CONNECT', err: errorMessage(err) },
          'MQTT offline status not confirmed before stop',
        );
      }
    }
    this.stopping = true;
    this.removeOutboxListener?.();
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    try {
      // A clean DISCONNECT keeps the broker from publishing the last will; force only when it cannot be sent.
      await withTimeout(client.endAsync(!client.connected), Math.max(100, deadlineMs - Date.now()));
    } catch {
      await client.endAsync(true).catch(() => undefined);
    }
    this.state.connected = false;
    this.client = undefined;
    this.log.info({ sent: this.state.sent, queued: this.deps.outbox.stats().pending }, 'MQTT stopped');
  }

  snapshot(): PublisherState {
    return {
      ...this.state,
      lastError: this.state.lastError ? { ...this.state.lastError } : null,
      inFlight: this.inFlight,
    };
  }

  private ids(): { runId: string; lineId: string } {
    return { runId: this.deps.runId, lineId: this.deps.lineId };
  }

  private async waitForDrain(deadlineMs: number): Promise<void> {
    while (Date.now() < deadlineMs && this.client?.connected) {
      if (this.deps.outbox.stats().pending === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  private onConnect(client: MqttClient): void {
    const downMs = this.downSinceMs === undefined ? 0 : Date.now() - this.downSinceMs;
    this.state.connected = true;
    this.state.connects++;
    this.state.connectedSince = new Date().toISOString();
    this.log.info(
      {
        code: 'LS_MQTT_CONNECT',
        url: redactUrl(this.deps.url),
        failedAttempts: this.failedAttempts,
        downMs,
        queued: this.deps.outbox.stats().pending,
      },
      this.state.connects === 1 ? 'MQTT connected' : 'MQTT reconnected',
    );
    this.downSinceMs = undefined;
    this.failedAttempts = 0;
    this.downLog.reset();
    if (this.deps.session) {
      this.deps.session.connected(client, () => this.pump());
      this.pump();
      return;
    }
    const online = JSON.stringify(buildStatusPayload('online', 'connected', this.ids()));
    client.publish(this.deps.topics.status, online, { qos: 1, retain: true }, (err) => {
      if (err) this.recordError(err);
    });
    client.subscribe(this.deps.topics.cmdAck, { qos: 1 }, (err) => {
      if (err)
        this.log.warn(
          { code: 'LS_MQTT_CONNECT', topic: this.deps.topics.cmdAck, err: errorMessage(err) },
          'MQTT could not subscribe to commands',
        );
    });
    this.deps.onConnected?.(client);
    this.pump();
  }

  private onClose(client: MqttClient): void {
    if (!this.stopping) this.deps.session?.closed(client);
    if (this.state.connected) {
      this.state.connected = false;
      this.state.disconnects++;
      this.downSinceMs = Date.now();
      this.downLog.reset();
      if (!this.stopping) {
        this.downLog.due(); // this line opens the outage; reminders follow
        this.log.warn(
          {
            code: this.state.lastError?.code ?? 'LS_MQTT_CONNECT',
            lastError: this.state.lastError?.message ?? null,
            queued: this.deps.outbox.stats().pending,
          },
          'MQTT connection lost; verdicts queue in the outbox',
        );
      }
      return;
    }
    if (this.stopping) return;
    this.failedAttempts++;
    const line = this.downLog.due();
    if (line?.first) {
      this.log.warn(
        {
          code: this.state.lastError?.code ?? 'LS_MQTT_CONNECT',
          url: redactUrl(this.deps.url),
          err: this.state.lastError?.message ?? null,
          retryMs: this.deps.reconnectMs,
        },
        'MQTT broker unreachable; retrying in the background, verdicts queue in the outbox',
      );
    } else if (line) {
      this.log.warn(
        {
          code: this.state.lastError?.code ?? 'LS_MQTT_CONNECT',
          failedAttempts: this.failedAttempts,
          downMs: this.downSinceMs === undefined ? null : Date.now() - this.downSinceMs,
          err: this.state.lastError?.message ?? null,
          queued: this.deps.outbox.stats().pending,
        },
        'MQTT broker still unreachable',
      );
    }
  }

  /** Connection errors: a failed handshake, a refused login, a dropped socket. */
  private onError(err: Error): void {
    this.recordError(err, connectErrorCode(err));
  }

  private recordError(err: unknown, code: ErrorCode = 'LS_MQTT_CONNECT'): void {
    this.state.lastError = { message: errorMessage(err), at: new Date().toISOString(), code };
  }

  private onMessage(topic: string, payload: Buffer, retained: boolean): void {
    if (this.deps.session) return this.deps.session.message(topic, payload, retained);
    if (topic !== this.deps.topics.cmdAck) return;
    if (retained) {
      // A retained command would acknowledge alarms raised long after it was sent.
      this.log.warn({ topic }, 'MQTT ignored a retained command; publish commands without the retain flag');
      return;
    }
    const parsed = parseAckCommand(payload);
    if ('error' in parsed) {
      this.log.warn({ topic, err: parsed.error }, 'MQTT ignored an invalid ack command');
      return;
    }
    this.log.info(
      { topic, id: parsed.id ?? null, alarm: parsed.alarm ?? (parsed.id ? null : 'all'), by: parsed.by ?? null },
      'MQTT ack command received',
    );
    try {
      this.deps.onCommand(parsed);
    } catch (err) {
      this.log.error({ code: 'LS_INTERNAL', err: errorMessage(err) }, 'MQTT command handler failed');
    }
  }

  private windowSize(): number {
    const receiveMaximum = this.client?.serverProperties?.receiveMaximum;
    return receiveMaximum ? Math.min(this.deps.maxInFlight, receiveMaximum) : this.deps.maxInFlight;
  }

  private pump(): void {
    const client = this.client;
    if (!client?.connected || this.stopping) return;
    const nowMs = Date.now();
    if (nowMs < this.pausedUntilMs || this.deps.session?.ready() === false) return;
    const window = this.windowSize();
    while (this.inFlight < window && client.connected) {
      const entry = this.deps.outbox.takeNext();
      if (!entry) return;
      this.inFlight++;
      const payload = this.deps.session ? this.deps.session.encode(entry) : entry.payload;
      client.publish(entry.topic, payload, { qos: this.deps.qos, retain: entry.retain }, (err) => {
        this.inFlight--;
        if (!err) {
          this.refusals.forget(entry.n);
          this.deps.outbox.ack(entry.n);
          this.state.sent++;
        } else if (this.deps.session && !client.connected) {
          this.deps.outbox.release(entry.n); // recalled at the disconnect by the session: re-encoded when sent again
        } else if (this.refusals.isFinal(entry.n, err)) {
          this.refusals.forget(entry.n);
          this.deps.outbox.reject(entry.n);
          this.recordError(err, 'LS_MQTT_REJECTED');
          this.logRejected(entry, err);
        } else {
          this.deps.outbox.release(entry.n);
          this.recordError(err);
          this.pauseAfterError(err);
        }
        this.pump();
      });
    }
  }

  /** Error level (the message is lost for SCADA), at most one line a minute with the count since the last one. */
  private logRejected(entry: OutboxEntry, err: unknown): void {
    const line = this.rejectLog.due();
    if (!line) return;
    this.log.error(
      {
        code: 'LS_MQTT_REJECTED',
        topic: entry.topic,
        reasonCode: reasonCodeOf(err) ?? null,
        err: errorMessage(err),
        rejected: line.count,
        rejectedTotal: this.deps.outbox.stats().rejected,
      },
      'MQTT broker refused a message; it was dropped so later messages keep flowing',
    );
  }

  /** The broker refused a publish (v5 reason code) or the client failed it: retry later instead of spinning. */
  private pauseAfterError(err: unknown): void {
    if (this.stopping || this.pauseTimer) return;
    this.log.warn(
      { code: 'LS_MQTT_CONNECT', err: errorMessage(err), retryMs: this.deps.reconnectMs },
      'MQTT publish failed; it stays in the outbox and is retried',
    );
    this.pausedUntilMs = Date.now() + this.deps.reconnectMs;
    this.pauseTimer = setTimeout(() => {
      this.pauseTimer = undefined;
      // Timers may fire a millisecond early by Date.now(): clear the pause so this pump cannot be skipped.
      this.pausedUntilMs = 0;
      this.pump();
    }, this.deps.reconnectMs);
  }
}
