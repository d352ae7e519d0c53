import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import type { Logger } from 'pino';
import { LinesideError, errorMessage } from '../../errors.js';
import type { Lifecycle } from '../../domain/ports.js';

export interface EmbeddedBrokerDeps {
  /** TCP port on 127.0.0.1; 0 picks a free one (read `port` after start). */
  port: number;
  logger: Logger;
}

/**
 * In-process aedes broker on 127.0.0.1, so a demo or a bench needs nothing installed. aedes speaks
 * MQTT 3.1.1 only: clients must connect with protocol version 4. It keeps retained messages and sessions
 * in memory, so they do not survive a restart; a plant should run a real broker (mosquitto).
 */
export class EmbeddedBroker implements Lifecycle {
  private readonly deps: EmbeddedBrokerDeps;
  private broker: Aedes | undefined;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private boundPort: number | undefined;

  constructor(deps: EmbeddedBrokerDeps) {
    this.deps = deps;
  }

  /** The port actually listened on; throws before start. */
  get port(): number {
    if (this.boundPort === undefined) throw new LinesideError('LS_INTERNAL', 'embedded broker port read before start');
    return this.boundPort;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Throws LS_MQTT_CONNECT when the port cannot be bound (another broker already listens there). */
  async start(_signal: AbortSignal): Promise<void> {
    const broker = await Aedes.createBroker({ heartbeatInterval: 60_000 });
    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      broker.handle(socket);
    });
    broker.on('clientError', (client, err) => {
      this.deps.logger.debug({ clientId: client.id, err: errorMessage(err) }, 'embedded broker: client error');
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.deps.port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      throw new LinesideError(
        'LS_MQTT_CONNECT',
        `embedded MQTT broker could not listen on 127.0.0.1:${this.deps.port}: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
    this.broker = broker;
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
    this.deps.logger.info({ port: this.boundPort }, 'embedded MQTT broker (3.1.1) listening on 127.0.0.1');
  }

  async stop(): Promise<void> {
    const { broker, server } = this;
    this.broker = undefined;
    this.server = undefined;
    if (!broker || !server) return;
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    // aedes closes its clients; sockets still mid-handshake are ours to end so server.close can finish.
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.deps.logger.info({ port: this.boundPort }, 'embedded MQTT broker stopped');
  }
}
