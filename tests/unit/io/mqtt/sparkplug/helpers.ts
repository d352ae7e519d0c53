import { connectAsync, type MqttClient } from 'mqtt';
import { decodeMetrics, encodeMetrics } from '../../../../../src/io/mqtt/sparkplug/codec.js';
import { waitFor } from '../../../../wait.js';

/** A decoded metric with 64-bit values (Long in sparkplug-payload) as plain numbers. */
export interface Metric {
  name: string;
  type: string;
  value: unknown;
  timestamp: number | undefined;
  isHistorical: boolean;
}

export interface SpMessage {
  topic: string;
  /** NBIRTH, DBIRTH, DDATA, NDEATH... */
  type: string;
  seq: number | undefined;
  timestamp: number | undefined;
  metrics: Metric[];
  retain: boolean;
}

/** Long (sparkplug-payload's 64-bit values) or number -> number. */
export function num(value: unknown): number {
  if (typeof value === 'number') return value;
  if (value !== null && typeof value === 'object' && 'toNumber' in value) {
    return (value as { toNumber(): number }).toNumber();
  }
  throw new Error(`not a number: ${String(value)}`);
}

export function decode(topic: string, payload: Buffer, retain = false): SpMessage {
  const decoded = decodeMetrics(payload);
  return {
    topic,
    type: topic.split('/')[2] ?? '',
    seq: decoded.seq === undefined || decoded.seq === null ? undefined : num(decoded.seq),
    timestamp: decoded.timestamp === undefined || decoded.timestamp === null ? undefined : num(decoded.timestamp),
    retain,
    metrics: (decoded.metrics ?? []).map((m) => ({
      name: m.name ?? '',
      type: m.type,
      value: m.type === 'UInt64' && m.value !== null ? num(m.value) : m.value,
      timestamp: m.timestamp === undefined || m.timestamp === null ? undefined : num(m.timestamp),
      isHistorical: m.isHistorical === true,
    })),
  };
}

export function metric(message: SpMessage | undefined, name: string): Metric {
  const found = message?.metrics.find((m) => m.name === name);
  if (!found) throw new Error(`no metric ${name} in ${message?.type ?? 'no message'}`);
  return found;
}

/** SCADA stand-in for Sparkplug: subscribes to one group and decodes every message it gets with sparkplug-payload. */
export class SparkplugObserver {
  readonly messages: SpMessage[] = [];

  private constructor(
    readonly client: MqttClient,
    private readonly group: string,
  ) {}

  static async connect(url: string, group: string): Promise<SparkplugObserver> {
    const client = await connectAsync(url, {
      protocolVersion: 5,
      reconnectPeriod: 0,
      clean: true,
      clientId: `sp-observer-${Math.random().toString(16).slice(2)}`,
    });
    const observer = new SparkplugObserver(client, group);
    client.on('message', (topic, payload, packet) => {
      if (topic.endsWith('/MARKER'))
        observer.messages.push({
          topic,
          type: 'MARKER',
          seq: undefined,
          timestamp: undefined,
          metrics: [],
          retain: false,
        });
      else observer.messages.push(decode(topic, payload, packet.retain));
    });
    await client.subscribeAsync(`spBv1.0/${group}/#`, { qos: 1 });
    return observer;
  }

  of(type: string): SpMessage[] {
    return this.messages.filter((m) => m.type === type);
  }

  /** Waits until `count` messages of `type` arrived. */
  async waitFor(type: string, count: number, timeoutMs = 15_000): Promise<SpMessage[]> {
    await waitFor(() => this.of(type).length >= count, timeoutMs, `${count} ${type}`);
    return this.of(type);
  }

  /**
   * A marker published on this group comes back after everything the broker had for this observer: an absence
   * checked afterwards is an absence, not impatience.
   */
  async settle(): Promise<void> {
    const before = this.of('MARKER').length;
    await this.client.publishAsync(`spBv1.0/${this.group}/MARKER`, 'm', { qos: 1 });
    await waitFor(() => this.of('MARKER').length > before, 10_000, 'the marker');
  }

  /** NCMD Node Control/Rebirth = true, as a primary host sends it. */
  async requestRebirth(edgeNode: string): Promise<void> {
    const payload = encodeMetrics(
      [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true, timestamp: Date.now() }],
      {
        nowMs: Date.now(),
      },
    );
    await this.client.publishAsync(`spBv1.0/${this.group}/NCMD/${edgeNode}`, payload, { qos: 0 });
  }

  /** The primary host's retained STATE (Sparkplug 3.0 JSON). */
  async hostState(hostId: string, online: boolean, timestamp = Date.now()): Promise<void> {
    const payload = JSON.stringify({ online, timestamp });
    await this.client.publishAsync(`spBv1.0/STATE/${hostId}`, payload, { qos: 1, retain: true });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Every message in order has seq = previous + 1 (mod 256), and every NBIRTH restarts at 0. */
export function seqBreaks(messages: readonly SpMessage[]): string[] {
  const breaks: string[] = [];
  let last: number | undefined;
  for (const m of messages) {
    if (!['NBIRTH', 'DBIRTH', 'DDATA', 'DDEATH'].includes(m.type)) continue; // NDEATH has no seq; commands are not ours
    if (m.type === 'NBIRTH') {
      if (m.seq !== 0) breaks.push(`NBIRTH seq ${String(m.seq)}`);
    } else if (last === undefined || m.seq !== (last + 1) % 256) {
      breaks.push(`${m.type} seq ${String(m.seq)} after ${String(last)}`);
    }
    last = m.seq;
  }
  return breaks;
}
