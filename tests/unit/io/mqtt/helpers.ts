import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { pino, type Logger } from 'pino';
import type { PartRecord } from '../../../../src/domain/part.js';
import { outboxMigrations } from '../../../../src/io/mqtt/outbox-store.js';
import { RecordDatabase } from '../../../../src/record/database.js';
import { coreMigrations, recordMigrations } from '../../../../src/record/migrations.js';
import { waitFor } from '../../../wait.js';

export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `lineside-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A TLS listener of the test broker: its certificate and key, and the CA it checks client certificates with. */
export interface TlsListener {
  cafile: string;
  certfile: string;
  keyfile: string;
  /** Mutual TLS: a client without a certificate signed by cafile is refused in the handshake. */
  requireCertificate?: boolean;
}

export interface MosquittoOptions {
  /** mosquitto_passwd file; anonymous clients are then refused on every listener. */
  passwordFile?: string;
  aclFile?: string;
  /** TLS listeners beside the plain one, on ports of their own (tlsPorts, tlsUrl). */
  tls?: TlsListener[];
}

/** A real Debian mosquitto 2.0 on 127.0.0.1, one per test file, restartable on the same port. */
export class Mosquitto {
  private child: ChildProcess | undefined;
  output = '';

  private constructor(
    readonly port: number,
    private readonly confPath: string,
    readonly tlsPorts: readonly number[],
  ) {}

  static async create(dir: string, options: MosquittoOptions = {}): Promise<Mosquitto> {
    const port = await freePort();
    const confPath = join(dir, `mosquitto-${port}.conf`);
    // Without per_listener_settings, authentication and the ACL apply to every listener, wherever they stand.
    const lines = [
      options.passwordFile ? `password_file ${options.passwordFile}` : 'allow_anonymous true',
      options.passwordFile ? 'allow_anonymous false' : '',
      options.aclFile ? `acl_file ${options.aclFile}` : '',
      'persistence false',
      'max_queued_messages 100000',
      'user root',
      `listener ${port} 127.0.0.1`,
    ];
    const tlsPorts: number[] = [];
    for (const listener of options.tls ?? []) {
      const tlsPort = await freePort();
      tlsPorts.push(tlsPort);
      lines.push(
        `listener ${tlsPort} 127.0.0.1`,
        `cafile ${listener.cafile}`,
        `certfile ${listener.certfile}`,
        `keyfile ${listener.keyfile}`,
        `require_certificate ${listener.requireCertificate === true ? 'true' : 'false'}`,
      );
    }
    await writeFile(confPath, `${lines.filter(Boolean).join('\n')}\n`);
    return new Mosquitto(port, confPath, tlsPorts);
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** The URL of the index-th TLS listener (options.tls order). */
  tlsUrl(index = 0, host = '127.0.0.1'): string {
    const tlsPort = this.tlsPorts[index];
    if (tlsPort === undefined) throw new Error(`no TLS listener ${index}`);
    return `mqtts://${host}:${tlsPort}`;
  }

  async start(): Promise<void> {
    const child = spawn('mosquitto', ['-c', this.confPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    const deadline = Date.now() + 10_000;
    const listening = async (): Promise<boolean> =>
      (await Promise.all([this.port, ...this.tlsPorts].map(portAccepts))).every(Boolean);
    while (!(await listening())) {
      if (child.exitCode !== null) throw new Error(`mosquitto exited: ${this.output}`);
      if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${this.port}: ${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** SIGKILL: no clean shutdown, sockets drop, nothing is saved. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * A TCP relay between the publisher and the broker that the test can close: closed, it refuses new
 * connections and cuts open ones without an MQTT DISCONNECT (what a pulled cable looks like to the broker).
 * It lets a test decide when the publisher may reach the broker again, so observers are subscribed first.
 */
export class GatedProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  open = false;
  port = 0;
  /** Connections refused while closed: each is one connect attempt of the client, seen from the network. */
  refused = 0;

  constructor(private readonly targetPort: () => number) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((client) => {
      if (!this.open) {
        this.refused++;
        client.destroy();
        return;
      }
      const upstream = netConnect(this.targetPort(), '127.0.0.1');
      this.sockets.add(client);
      this.sockets.add(upstream);
      const close = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Cuts every relayed connection and refuses new ones. */
  cut(): void {
    this.open = false;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  async stop(): Promise<void> {
    this.cut();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

/** An observer (SCADA stand-in) subscribed to `topic`, recording everything it receives. */
export class Observer {
  readonly messages: Received[] = [];

  private constructor(readonly client: MqttClient) {}

  /** `options`: credentials or TLS for a secured broker. */
  static async connect(
    url: string,
    topic: string,
    protocolVersion: 4 | 5 = 5,
    options: IClientOptions = {},
  ): Promise<Observer> {
    const client = await connectAsync(url, {
      protocolVersion,
      reconnectPeriod: 0,
      clean: true,
      clientId: `observer-${Math.random().toString(16).slice(2)}`,
      ...options,
    });
    const observer = new Observer(client);
    client.on('message', (t, payload, packet) =>
      observer.messages.push({ topic: t, payload: payload.toString(), retain: packet.retain }),
    );
    await client.subscribeAsync(topic, { qos: 1 });
    return observer;
  }

  on(topic: string): Received[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  json<T = Record<string, unknown>>(topic: string): T[] {
    return this.on(topic).map((m) => JSON.parse(m.payload) as T);
  }

  /**
   * Publishes a marker on `topic` (one this observer is subscribed to) and waits until it comes back. A broker
   * delivers to one subscriber in order, so whatever it had for this observer before the marker (retained
   * messages included) has arrived by then: an absence checked afterwards is an absence, not impatience.
   * Returns what arrived before the marker, which is taken out of `messages` again.
   */
  async settle(topic: string, timeoutMs = 10_000): Promise<Received[]> {
    const marker = `settle-${Math.random().toString(16).slice(2)}`;
    const isMarker = (m: Received): boolean => m.topic === topic && m.payload === marker;
    await this.client.publishAsync(topic, marker, { qos: 1 });
    await waitFor(() => this.messages.some(isMarker), timeoutMs, `the marker on ${topic}`);
    const at = this.messages.findIndex(isMarker);
    const before = this.messages.slice(0, at);
    this.messages.splice(at, 1);
    return before;
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** A pino logger whose JSON lines land in `lines` (and nowhere else). */
export function captureLogger(level: pino.Level = 'debug'): {
  logger: Logger;
  lines: string[];
  records: () => Record<string, unknown>[];
} {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const logger = pino({ level }, stream);
  return { logger, lines, records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

export function makeRecord(seq: number, runId = 'run-test', overrides: Partial<PartRecord> = {}): PartRecord {
  const defective = seq % 3 === 0;
  return {
    seq,
    id: `${runId}-${seq}`,
    runId,
    triggerMs: 1000 + seq * 100,
    triggeredAt: new Date(Date.UTC(2026, 10, 23, 13, 0, 0, seq)).toISOString(),
    source: `def_front/cast_def_0_${seq}.jpeg`,
    label: defective ? 'defective' : 'ok',
    verdict: defective ? 'defective' : 'ok',
    defectScore: defective ? 0.97 : 0.03,
    threshold: 0.5,
    modelVersion: '1.0.0',
    executionProvider: 'cpu',
    decision: defective ? 'reject' : 'pass',
    stagesMs: { capture: 4.2, queue: 0.4, preprocess: 3.1, inference: 11.7, transfer: 0.6 },
    verdictLatencyMs: 19.4,
    tracking: { mode: 'time', dueMs: 1500 + seq * 100, fired: defective, confirmed: defective ? true : null },
    ...overrides,
  };
}

export const silentLogger = (): Logger => pino({ level: 'silent' });

/** A line record database (core and outbox migrations) at `file`, as the daemon's 'record' stage opens it. */
export function openRecordDatabase(file: string, logger: Logger = silentLogger()): RecordDatabase {
  return RecordDatabase.open({ file, logger, migrations: recordMigrations([coreMigrations, outboxMigrations]) });
}
