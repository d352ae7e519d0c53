import { join } from 'node:path';
import type { Logger } from 'pino';
import type { SparkplugConfig } from '../../../config/sections/sparkplug.js';
import type { PartRecord } from '../../../domain/part.js';
import type { OutboxMessage } from '../outbox.js';
import type { AlarmEvent } from '../payload.js';
import { storeData } from './codec.js';
import { StationMetrics, type StationFacts } from './metrics.js';
import { BdSeqFile } from './sequence.js';
import { SparkplugSession } from './session.js';
import { sparkplugTopics, type SparkplugIds, type SparkplugTopics } from './topics.js';

export { SparkplugSession } from './session.js';
export type { StationFacts } from './metrics.js';

/** The file in the outbox directory that carries bdSeq across daemon restarts. */
export const BDSEQ_FILE = 'sparkplug-bdseq.json';

export interface SparkplugEdgeDeps {
  config: SparkplugConfig;
  lineId: string;
  runId: string;
  outboxDir: string;
  facts: StationFacts;
  logger: Logger;
}

export function sparkplugIds(config: SparkplugConfig, lineId: string): SparkplugIds {
  return {
    groupId: config.group_id,
    edgeNodeId: config.edge_node_id ?? lineId,
    deviceId: config.device_id,
    ...(config.primary_host === undefined ? {} : { primaryHost: config.primary_host }),
  };
}

/**
 * lineside as a Sparkplug B edge node with one device, the inspection station. Parts and alarms become DDATA
 * descriptions for the outbox (encoded when sent, by the session); births and deaths belong to the session.
 */
export class SparkplugEdge {
  readonly topics: SparkplugTopics;
  readonly session: SparkplugSession;
  private readonly station: StationMetrics;
  private readonly log: Logger;

  constructor(deps: SparkplugEdgeDeps) {
    this.log = deps.logger;
    this.topics = sparkplugTopics(sparkplugIds(deps.config, deps.lineId));
    this.station = new StationMetrics(deps.facts);
    this.session = new SparkplugSession({
      topics: this.topics,
      bdSeq: new BdSeqFile(join(deps.outboxDir, BDSEQ_FILE), deps.logger),
      station: this.station,
      runId: deps.runId,
      lineId: deps.lineId,
      logger: deps.logger,
    });
  }

  partMessage(record: PartRecord, handedAtMs = Date.now()): OutboxMessage {
    return this.data(this.station.part(record, handedAtMs));
  }

  /** An alarm kind the device did not declare in its DBIRTH is declared by a rebirth before its DDATA is sent. */
  alarmMessage(event: AlarmEvent): OutboxMessage {
    const known = this.station.has(`Alarms/${event.alarm}/State`);
    const metrics = this.station.alarm(event);
    if (!known) {
      this.log.info({ alarm: event.alarm }, 'Sparkplug: new alarm metrics, rebirth');
      this.session.rebirth();
    }
    return this.data(metrics);
  }

  private data(metrics: Parameters<typeof storeData>[1]): OutboxMessage {
    return { topic: this.topics.ddata, payload: storeData(this.session.liveEpoch(), metrics), retain: false };
  }
}
