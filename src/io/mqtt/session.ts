import type { MqttClient } from 'mqtt';
import type { OutboxEntry } from './outbox.js';

/** A message the publisher sends outside the outbox: the last will, or the farewell at a clean stop. */
export interface SessionMessage {
  topic: string;
  payload: Buffer | string;
  retain: boolean;
}

/**
 * What a payload format adds to the publisher's connection (Sparkplug B: births, deaths, seq, rebirth, primary
 * host). Without one the publisher speaks the JSON format: the retained status topic and the ack commands.
 */
export interface PublisherSession {
  /** The last will for the next CONNECT; read again before every reconnect (closed() may change it). */
  will(): SessionMessage;
  /** Published (QoS 1) before a clean DISCONNECT, when the broker no longer sends the will. */
  farewell(): SessionMessage;
  /** CONNACK received: subscribe and send what opens the session. `wake` resumes sending from the outbox. */
  connected(client: MqttClient, wake: () => void): void;
  /**
   * The connection closed (or an attempt failed). The session may prepare the next CONNECT; messages still in
   * flight are not resent by mqtt.js when the session recalls them: they come back from the outbox, re-encoded.
   */
  closed(client: MqttClient): void;
  message(topic: string, payload: Buffer, retained: boolean): void;
  /** False holds outbox entries back while connected (before the births, or while the primary host is away). */
  ready(): boolean;
  /** The bytes to send for an outbox entry, made at send time (a sequence number, a historical flag). */
  encode(entry: OutboxEntry): Buffer | string;
}
