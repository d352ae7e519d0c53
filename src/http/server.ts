import type { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import { LinesideError, errorMessage } from '../errors.js';
import { apiToken, requireToken } from './auth.js';
import { classifyRoutes } from './classify.js';
import { LiveView } from './live.js';
import { OperatorMetrics } from './metrics.js';
import { alarmRoutes, healthRoutes, partRoutes, statusOf, type RouteDeps } from './routes.js';
import type { OperatorDeps } from './types.js';

/** The dashboard's static files: web/ at the project root, the same from src/http and from dist/http. */
const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));
const UPLOT_DIR = path.dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'));
const STATUS_EVERY_MS = 1000;
const STATUS_SOON_MS = 200;
const LATENCY_EVERY_MS = 5000;

/**
 * The operator view: dashboard, upload page, /healthz, /metrics and the JSON API that `lineside status` and
 * `lineside ack` use, live through server-sent events. It only reads the daemon's state and listens to settled
 * parts, so it is never on the path from trigger to gate.
 */
export class OperatorServer {
  readonly live: LiveView;
  readonly metrics: OperatorMetrics;
  private app: FastifyInstance | undefined;
  private readonly clients = new Set<ServerResponse>();
  private readonly cleanups: (() => void)[] = [];
  private address: string | undefined;

  constructor(private readonly deps: OperatorDeps) {
    this.live = new LiveView({ keepImages: deps.config.recent_images });
    this.metrics = new OperatorMetrics(deps);
  }

  /** http://host:port/ once listening. */
  get url(): string | undefined {
    return this.address;
  }

  async start(signal: AbortSignal): Promise<void> {
    const { config } = this.deps;
    const token = await apiToken(config, this.deps.env);
    const app = Fastify({ logger: false, forceCloseConnections: true });
    this.app = app;
    requireToken(app, token);
    await this.routes(app);
    try {
      await app.listen({ host: config.host, port: config.port, signal });
    } catch (err) {
      await app.close();
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EADDRINUSE' ? 'the port is taken' : errorMessage(err);
      throw new LinesideError('LS_HTTP_UNAVAILABLE', `http: cannot listen on ${config.host}:${config.port}: ${why}`, {
        cause: err,
      });
    }
    const port = (app.server.address() as { port: number }).port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    this.address = `http://${host}:${port}/`;
    this.follow();
    this.deps.logger.info({ url: this.address, token: token !== undefined }, `dashboard at ${this.address}`);
  }

  /** Closes the live streams first (they would hold the close), then the server. Never throws. */
  async stop(): Promise<void> {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    for (const client of this.clients) client.end();
    this.clients.clear();
    const app = this.app;
    this.app = undefined;
    try {
      await app?.close();
    } catch (err) {
      this.deps.logger.warn({ err: errorMessage(err) }, 'http: error while closing');
    }
  }

  private async routes(app: FastifyInstance): Promise<void> {
    const r: RouteDeps = { deps: this.deps, live: this.live, metrics: this.metrics };
    app.setErrorHandler(async (err, _request, reply) => {
      const status = (err as { statusCode?: number }).statusCode ?? 500;
      if (status >= 500) this.deps.logger.warn({ err: errorMessage(err) }, 'http: request failed');
      return reply.code(status).send({ error: errorMessage(err) });
    });
    healthRoutes(app, r);
    partRoutes(app, r);
    alarmRoutes(app, r);
    classifyRoutes(app, this.deps);
    app.get('/api/events', (request, reply) => {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
      });
      this.clients.add(res);
      request.raw.on('close', () => this.clients.delete(res));
      send(res, 'status', statusOf(r));
      send(res, 'hello', { parts: this.live.latestParts(), latency: this.live.latencyHistory() });
    });
    await app.register(fastifyStatic, { root: WEB_DIR, prefix: '/' });
    await app.register(fastifyStatic, { root: UPLOT_DIR, prefix: '/vendor/uplot/', decorateReply: false });
  }

  /** Settled parts and captured images into the live view and the metrics; status and latency out to the pages. */
  private follow(): void {
    const r: RouteDeps = { deps: this.deps, live: this.live, metrics: this.metrics };
    this.metrics.start();
    const offImage = this.deps.onImage((image) => this.live.image(image));
    let statusSoon: NodeJS.Timeout | undefined;
    const offPart = this.deps.onPart((record) => {
      this.metrics.part(record);
      this.broadcast('part', this.live.part(record));
      // The counters follow the parts within a fifth of a second, without a status per part on a fast line.
      statusSoon ??= setTimeout(() => {
        statusSoon = undefined;
        if (this.clients.size > 0) this.broadcast('status', statusOf(r));
      }, STATUS_SOON_MS);
    });
    const status = setInterval(() => this.clients.size > 0 && this.broadcast('status', statusOf(r)), STATUS_EVERY_MS);
    const latency = setInterval(() => {
      const point = this.live.sampleLatency();
      if (point) this.broadcast('latency', point);
    }, LATENCY_EVERY_MS);
    status.unref();
    latency.unref();
    this.cleanups.push(
      offImage,
      offPart,
      () => clearInterval(status),
      () => clearInterval(latency),
    );
    this.cleanups.push(() => this.metrics.stop());
  }

  private broadcast(event: string, data: unknown): void {
    for (const client of this.clients) send(client, event, data);
  }
}

function send(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}
