import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { errorMessage } from '../../../errors.js';
import type { OutboxEntry } from '../outbox.js';
import type { PublisherSession, SessionMessage } from '../session.js';
import { decodeMetrics, encodeMetrics, parseStored, type StoredMetric } from './codec.js';
import type { StationMetrics } from './metrics.js';
import type { BdSeqFile } from './sequence.js';
import { SeqCounter } from './sequence.js';
import { isSparkplugTopic, parseHostState, type SparkplugTopics } from './topics.js';

export const REBIRTH_METRIC = 'Node Control/Rebirth';

export interface SparkplugSessionDeps {
  topics: SparkplugTopics;
  bdSeq: BdSeqFile;
  station: StationMetrics;
  /** Node properties in NBIRTH. */
  runId: string;
  lineId: string;
  logger: Logger;
}

/**
 * The edge node's Sparkplug session over one MQTT connection: NDEATH as the will (with the bdSeq of that CONNECT),
 * NBIRTH and DBIRTH when connected (once the primary host is online, when there is one), seq at send time, Rebirth
 * on NCMD, and the epoch that decides whether a DDATA from the outbox is live or historical.
 */
export class SparkplugSession implements PublisherSession {
  private readonly seq = new SeqCounter();
  private readonly log: Logger;
  private bdSeq: number | undefined;
  private client: MqttClient | undefined;
  private wake: () => void = () => undefined;
  private connected_ = false;
  private hostOnline = false;
  private hostTimestamp = -Infinity;
  /** Names the births now in force; null while none is (not connected, host offline). */
  private epoch: string | null = null;
  private births = 0;

  constructor(private readonly deps: SparkplugSessionDeps) {
    this.log = deps.logger;
  }

  /** The epoch a DDATA made now belongs to: null unless the births are in force, so held data is historical. */
  liveEpoch(): string | null {
    return this.ready() ? this.epoch : null;
  }

  will(): SessionMessage {
    this.bdSeq ??= this.deps.bdSeq.next();
    return { topic: this.deps.topics.ndeath, payload: this.death(this.bdSeq), retain: false };
  }

  farewell(): SessionMessage {
    return this.will();
  }

  connected(client: MqttClient, wake: () => void): void {
    this.client = client;
    this.wake = wake;
    this.connected_ = true;
    this.epoch = null;
    const { ncmd, state } = this.deps.topics;
    // Subscriptions go out before the NBIRTH on the same connection, so no command sent after it is missed.
    this.subscribe(client, ncmd, 0);
    this.hostOnline = state === undefined;
    if (state === undefined) this.birth('connected');
    else this.subscribe(client, state, 1); // the host's retained STATE decides when the births go out
  }

  closed(client: MqttClient): void {
    if (!this.connected_) return; // a failed attempt: its will was never armed, the next CONNECT reuses the bdSeq
    this.connected_ = false;
    this.epoch = null;
    this.bdSeq = this.deps.bdSeq.next();
    client.options.will = { ...this.will(), qos: 1 };
    // DDATA on the wire carry this session's seq: mqtt.js must not resend them after the next NBIRTH. They come
    // back from the outbox, re-encoded with the new session's seq and flagged historical.
    for (const id of Object.keys(client.outgoing)) client.removeOutgoingMessage(Number(id));
  }

  message(topic: string, payload: Buffer, _retained: boolean): void {
    if (topic === this.deps.topics.ncmd) this.command(payload);
    else if (topic === this.deps.topics.state) this.hostState(payload);
  }

  ready(): boolean {
    return this.connected_ && this.hostOnline && this.epoch !== null;
  }

  encode(entry: OutboxEntry): Buffer | string {
    if (!isSparkplugTopic(entry.topic)) return entry.payload;
    const stored = parseStored(entry.payload);
    const historical = stored?.epoch !== this.epoch || stored.epoch === null;
    const seq = this.seq.next();
    try {
      if (stored) return encodeMetrics(stored.metrics, { seq, nowMs: Date.now(), historical });
    } catch (err) {
      this.log.warn({ topic: entry.topic, n: entry.n, err: errorMessage(err) }, 'Sparkplug outbox entry not encodable');
    }
    // Unreadable (a damaged outbox line): an empty DDATA keeps seq continuous instead of sending garbage.
    if (!stored) this.log.warn({ topic: entry.topic, n: entry.n }, 'Sparkplug outbox entry unreadable; sent empty');
    return encodeMetrics([], { seq, nowMs: Date.now(), historical: true });
  }

  /** New metrics appeared: births again (when they are in force), so DBIRTH declares them before any DDATA. */
  rebirth(): void {
    if (this.ready()) this.birth('new metrics');
  }

  /** Sends NBIRTH (seq 0) and DBIRTH, then lets the outbox flow. Also the answer to a Rebirth command. */
  private birth(why: string): void {
    const client = this.client;
    if (!client?.connected || !this.hostOnline) return;
    const nowMs = Date.now();
    const bdSeq = (this.bdSeq ??= this.deps.bdSeq.next());
    const node: StoredMetric[] = [
      { name: 'bdSeq', type: 'UInt64', value: bdSeq, timestamp: nowMs },
      { name: REBIRTH_METRIC, type: 'Boolean', value: false, timestamp: nowMs },
      { name: 'Properties/Run ID', type: 'String', value: this.deps.runId, timestamp: nowMs },
      { name: 'Properties/Line ID', type: 'String', value: this.deps.lineId, timestamp: nowMs },
    ];
    const nbirth = encodeMetrics(node, { seq: this.seq.birth(), nowMs });
    const dbirth = encodeMetrics(this.deps.station.birth(nowMs), { seq: this.seq.next(), nowMs });
    const failed = (err?: Error): void => {
      if (err) this.log.warn({ code: 'LS_MQTT_CONNECT', err: errorMessage(err) }, 'Sparkplug birth not sent');
    };
    client.publish(this.deps.topics.nbirth, nbirth, { qos: 0, retain: false }, failed);
    client.publish(this.deps.topics.dbirth, dbirth, { qos: 0, retain: false }, failed);
    this.epoch = `${this.deps.runId}/${bdSeq}/${++this.births}`;
    this.log.info({ bdSeq, why, topic: this.deps.topics.nbirth }, 'Sparkplug NBIRTH and DBIRTH sent');
    this.wake();
  }

  private command(payload: Buffer): void {
    let metrics: { name?: string | null; value?: unknown }[];
    try {
      metrics = decodeMetrics(payload).metrics ?? [];
    } catch (err) {
      this.log.warn({ topic: this.deps.topics.ncmd, err: errorMessage(err) }, 'Sparkplug NCMD not decodable');
      return;
    }
    if (metrics.some((m) => m.name === REBIRTH_METRIC && m.value === true)) this.birth('rebirth requested');
  }

  private hostState(payload: Buffer): void {
    const state = parseHostState(payload);
    if (!state) {
      this.log.warn({ topic: this.deps.topics.state }, 'Sparkplug STATE ignored: not {"online": bool, "timestamp": n}');
      return;
    }
    // A STATE older than the last one seen is a late retained copy of a session that has ended (spec 3.0).
    if (state.timestamp < this.hostTimestamp) return;
    this.hostTimestamp = state.timestamp;
    if (state.online === this.hostOnline) return;
    this.hostOnline = state.online;
    if (state.online) {
      this.birth('primary host online');
      return;
    }
    this.epoch = null;
    this.log.warn({ topic: this.deps.topics.state }, 'Sparkplug primary host offline: data held in the outbox');
  }

  private death(bdSeq: number): Buffer {
    return encodeMetrics([{ name: 'bdSeq', type: 'UInt64', value: bdSeq, timestamp: Date.now() }], {
      nowMs: Date.now(),
    });
  }

  private subscribe(client: MqttClient, topic: string, qos: 0 | 1): void {
    client.subscribe(topic, { qos }, (err) => {
      if (err) this.log.warn({ code: 'LS_MQTT_CONNECT', topic, err: errorMessage(err) }, 'MQTT could not subscribe');
    });
  }
}
