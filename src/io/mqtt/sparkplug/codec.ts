import sparkplugPayload from 'sparkplug-payload';

const codec = sparkplugPayload.get('spBv1.0');
if (!codec) throw new Error('sparkplug-payload has no spBv1.0 codec');
const spb = codec;

export type MetricType = 'String' | 'Boolean' | 'Double' | 'Int32' | 'UInt64';

/** One metric as lineside keeps it (JSON-safe, so it can wait in the outbox). */
export interface StoredMetric {
  name: string;
  type: MetricType;
  value: string | number | boolean | null;
  /** Milliseconds since the epoch: when the value came to be (a verdict: its decision time), not when it is sent. */
  timestamp: number;
}

/**
 * A DDATA as it waits in the outbox: its metrics with their own timestamps, and the epoch (birth) it was made in.
 * It is turned into protobuf only when sent, so that it gets the seq of that moment and, when it is sent in another
 * epoch than the one it was made in (after a reconnect, a restart, while the primary host was away), the historical
 * flag on every metric.
 */
export interface StoredData {
  spb: 1;
  /** The births this was made after, or null when none was live (held from the start: always historical). */
  epoch: string | null;
  metrics: StoredMetric[];
}

export function storeData(epoch: string | null, metrics: StoredMetric[]): string {
  const data: StoredData = { spb: 1, epoch, metrics };
  return JSON.stringify(data);
}

/** The stored DDATA in an outbox payload, undefined when it is not one (a JSON-format message of an earlier run). */
export function parseStored(payload: string): StoredData | undefined {
  try {
    const data = JSON.parse(payload) as Partial<StoredData> | null;
    if (data?.spb !== 1 || !Array.isArray(data.metrics)) return undefined;
    return { spb: 1, epoch: typeof data.epoch === 'string' ? data.epoch : null, metrics: data.metrics };
  } catch {
    return undefined;
  }
}

export interface EncodeOptions {
  /** Omitted only for NDEATH, which carries no seq. */
  seq?: number;
  nowMs: number;
  historical?: boolean;
}

export function encodeMetrics(metrics: readonly StoredMetric[], options: EncodeOptions): Buffer {
  const bytes = spb.encodePayload({
    timestamp: options.nowMs,
    ...(options.seq === undefined ? {} : { seq: options.seq }),
    metrics: metrics.map((m) => ({
      name: m.name,
      type: m.type,
      value: m.value,
      timestamp: m.timestamp,
      ...(options.historical ? { isHistorical: true } : {}),
    })),
  });
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function decodeMetrics(payload: Uint8Array): ReturnType<typeof spb.decodePayload> {
  return spb.decodePayload(payload);
}
