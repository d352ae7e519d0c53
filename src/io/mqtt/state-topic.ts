import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { errorMessage } from '../../errors.js';
import { LogThrottle } from '../../log-throttle.js';

export interface StateTopicDeps {
  topic: string;
  /** mqtt.state_interval_s in ms. */
  intervalMs: number;
  /** The snapshot to publish now; undefined while there is nothing to say yet. */
  snapshot: () => string | undefined;
  logger: Logger;
}

const ERROR_LOG_INTERVAL_MS = 60_000;

/**
 * A retained topic where only the latest value matters (`<prefix>/state`): published on every connect and then
 * every interval while connected, straight to the client, never through the outbox. A snapshot missed during an
 * outage is worthless once a newer one exists, so queueing them would only replay stale counters after the
 * outbox's verdicts; while disconnected nothing is sent, and the connect sends the current one at once.
 *
 * QoS 0: the broker retains it all the same, it takes no slot of the verdicts' in-flight window (the broker's
 * receive maximum counts only QoS 1/2), and one lost to a dropped connection is replaced at the reconnect.
 */
export class StateTopic {
  private client: MqttClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly errorLog = new LogThrottle(ERROR_LOG_INTERVAL_MS);
  /** Snapshots handed to the client since start. */
  published = 0;

  constructor(private readonly deps: StateTopicDeps) {}

  start(): void {
    this.timer = setInterval(() => this.publish(), this.deps.intervalMs);
    this.timer.unref();
  }

  /** The publisher (re)connected with this client: the current snapshot goes out at once. */
  connected(client: MqttClient): void {
    this.client = client;
    this.publish();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.client = undefined;
  }

  /** Publishes the current snapshot if connected; never throws (a failing snapshot is logged, once a minute). */
  publish(): void {
    const client = this.client;
    if (!client?.connected) return;
    let payload: string | undefined;
    try {
      payload = this.deps.snapshot();
    } catch (err) {
      this.logError(err);
      return;
    }
    if (payload === undefined) return;
    this.published++;
    client.publish(this.deps.topic, payload, { qos: 0, retain: true }, (err) => {
      if (err) this.logError(err);
    });
  }

  private logError(err: unknown): void {
    if (!this.errorLog.due()) return;
    this.deps.logger.warn(
      { code: 'LS_MQTT_CONNECT', topic: this.deps.topic, err: errorMessage(err) },
      'MQTT state snapshot not published; the next one follows',
    );
  }
}
