/** Sparkplug B 3.0 topic namespace: spBv1.0/<group_id>/<message_type>/<edge_node_id>[/<device_id>]. */
export const NAMESPACE = 'spBv1.0';

export interface SparkplugIds {
  groupId: string;
  edgeNodeId: string;
  deviceId: string;
  /** Host application id of the primary host, when lineside must wait for it. */
  primaryHost?: string;
}

export interface SparkplugTopics {
  nbirth: string;
  ndeath: string;
  ncmd: string;
  dbirth: string;
  ddata: string;
  ddeath: string;
  dcmd: string;
  /** spBv1.0/STATE/<primary_host>, when one is configured. */
  state: string | undefined;
}

export function sparkplugTopics(ids: SparkplugIds): SparkplugTopics {
  const node = (type: string): string => `${NAMESPACE}/${ids.groupId}/${type}/${ids.edgeNodeId}`;
  const device = (type: string): string => `${node(type)}/${ids.deviceId}`;
  return {
    nbirth: node('NBIRTH'),
    ndeath: node('NDEATH'),
    ncmd: node('NCMD'),
    dbirth: device('DBIRTH'),
    ddata: device('DDATA'),
    ddeath: device('DDEATH'),
    dcmd: device('DCMD'),
    state: ids.primaryHost === undefined ? undefined : `${NAMESPACE}/STATE/${ids.primaryHost}`,
  };
}

export function isSparkplugTopic(topic: string): boolean {
  return topic.startsWith(`${NAMESPACE}/`);
}

export interface HostState {
  online: boolean;
  /** Milliseconds since the epoch, as the host application wrote it. */
  timestamp: number;
}

/** The Sparkplug 3.0 STATE payload: UTF-8 JSON `{"online": true, "timestamp": 1700000000000}`. */
export function parseHostState(payload: Buffer): HostState | undefined {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null) return undefined;
  const { online, timestamp } = json as { online?: unknown; timestamp?: unknown };
  if (typeof online !== 'boolean' || typeof timestamp !== 'number' || !Number.isFinite(timestamp)) return undefined;
  return { online, timestamp };
}
