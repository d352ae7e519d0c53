import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mqttSection } from '../../../../src/config/sections/mqtt.js';
import { createMqtt, type Mqtt } from '../../../../src/io/mqtt/index.js';
import { waitFor } from '../../../wait.js';
import { captureLogger, makeRecord, tempDir } from './helpers.js';

const QUOTA_EXCEEDED = 0x97;

/**
 * Just enough of an MQTT 5 broker to answer one topic with a chosen PUBACK reason code. Neither mosquitto
 * nor aedes can be made to answer "quota exceeded" (or any refusal that is not an ACL denial) on demand.
 */
class RefusingBroker {
  readonly published: { topic: string; reasonCode: number }[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly refuse: (topic: string) => number) {}

  get url(): string {
    return `mqtt://127.0.0.1:${(this.server?.address() as AddressInfo).port}`;
  }

  async start(): Promise<void> {
    const server = createServer((socket) => {
      this.sockets.add(socket);
      let buffer = Buffer.alloc(0);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        for (let packet = takePacket(buffer); packet; packet = takePacket(buffer)) {
          buffer = buffer.subarray(packet.size);
          this.answer(socket, packet.first, packet.body);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private answer(socket: Socket, first: number, body: Buffer): void {
    const type = first >> 4;
    if (type === 1) socket.write(Buffer.from([0x20, 3, 0, 0, 0])); // CONNACK: accepted, no properties
    if (type === 12) socket.write(Buffer.from([0xd0, 0])); // PINGRESP
    if (type === 14) socket.end();
    if (type === 8) socket.write(Buffer.from([0x90, 4, body[0]!, body[1]!, 0, 1])); // SUBACK: granted QoS 1
    if (type === 3) {
      const qos = (first >> 1) & 3;
      const topicLength = body.readUInt16BE(0);
      const topic = body.subarray(2, 2 + topicLength).toString();
      const reasonCode = this.refuse(topic);
      this.published.push({ topic, reasonCode });
      if (qos === 1)
        socket.write(Buffer.from([0x40, 4, body[2 + topicLength]!, body[3 + topicLength]!, reasonCode, 0]));
    }
  }
}

/** One whole packet at the start of `buffer` (fixed header byte, body, total size), or undefined if incomplete. */
function takePacket(buffer: Buffer): { first: number; body: Buffer; size: number } | undefined {
  let length = 0;
  let multiplier = 1;
  let index = 1;
  for (;;) {
    const byte = buffer[index++];
    if (byte === undefined) return undefined;
    length += (byte & 0x7f) * multiplier;
    multiplier *= 128;
    if ((byte & 0x80) === 0) break;
  }
  if (buffer.length < index + length) return undefined;
  return { first: buffer[0]!, body: buffer.subarray(index, index + length), size: index + length };
}

describe('MQTT 5 refusals that may be transient (quota exceeded)', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let broker: RefusingBroker;
  let mqtt: Mqtt | undefined;
  beforeEach(async () => {
    dir = await tempDir('refusals');
    broker = new RefusingBroker((topic) => (topic === 'lineside/demo/alarm' ? QUOTA_EXCEEDED : 0));
    await broker.start();
  });
  afterEach(async () => {
    await mqtt?.stop();
    mqtt = undefined;
    await broker.stop();
    await dir.remove();
  });

  it('retries a refused message, drops it as rejected after 5 refusals, and the messages behind it are delivered in order', async () => {
    const { logger, records } = captureLogger();
    const config = mqttSection.parse({ url: broker.url, reconnect_ms: 100, max_in_flight: 1, outbox_dir: 'outbox' });
    mqtt = createMqtt(config, { logger, lineId: 'demo', baseDir: dir.path, env: {} });
    await mqtt.start(new AbortController().signal);
    mqtt.publishPart(makeRecord(1));
    mqtt.publishAlarm({ alarm: 'bin_full', id: 'run-test-A1', state: 'raised', message: 'bin full' });
    mqtt.publishPart(makeRecord(2));
    const state = mqtt;
    await waitFor(() => state.state().queued === 0, 10_000, 'outbox empty');

    const verdictsAndAlarms = broker.published.filter((p) => !p.topic.endsWith('/status'));
    expect(verdictsAndAlarms.map((p) => p.topic)).toEqual([
      'lineside/demo/verdict',
      ...Array<string>(5).fill('lineside/demo/alarm'),
      'lineside/demo/alarm/state/bin_full',
      'lineside/demo/verdict',
    ]);
    expect(state.state()).toMatchObject({ sent: 3, rejected: 1, dropped: 0 });
    expect(state.state().lastError?.message).toMatch(/Quota exceeded/);
    const rejected = records().filter((r) => r.code === 'LS_MQTT_REJECTED');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ level: 50, topic: 'lineside/demo/alarm', reasonCode: QUOTA_EXCEEDED });
    // Each refusal before the last one is a retry after a pause, logged as a warning.
    expect(
      records().filter((r) => r.code === 'LS_MQTT_CONNECT' && String(r.msg).includes('publish failed')).length,
    ).toBeGreaterThanOrEqual(1);
  });
});
