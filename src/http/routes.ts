import type { FastifyInstance, FastifyReply } from 'fastify';
import { ALARM_KINDS } from '../domain/alarm.js';
import { errorCode, errorMessage } from '../errors.js';
import type { LiveView } from './live.js';
import type { OperatorMetrics } from './metrics.js';
import type { OperatorDeps } from './types.js';

export interface RouteDeps {
  deps: OperatorDeps;
  live: LiveView;
  metrics: OperatorMetrics;
}

/** What the dashboard and `lineside status` show: health, alarms, counts, the model. */
export function statusOf({ deps, live }: RouteDeps): Record<string, unknown> {
  const summary = deps.summary();
  return {
    line_id: deps.lineId,
    run_id: deps.runId,
    health: deps.health(),
    alarms: deps.alarms(),
    run: live.thisRun(summary.parts, summary.ok),
    last_hour: live.lastHour(),
    model: deps.model() ?? null,
    cam: typeof deps.inspector()?.explain === 'function',
    record: deps.record !== undefined,
    summary,
  };
}

/** image/jpeg, image/png or image/webp from the bytes' signature. */
export function contentType(data: Buffer): string {
  if (data[0] === 0xff && data[1] === 0xd8) return 'image/jpeg';
  if (data[0] === 0x89 && data[1] === 0x50) return 'image/png';
  if (data.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  return 'application/octet-stream';
}

export function healthRoutes(app: FastifyInstance, r: RouteDeps): void {
  app.get('/healthz', async (_request, reply) => {
    const report = r.deps.health();
    return reply.code(report.ready ? 200 : 503).send({ status: report.ready ? 'ready' : 'degraded', ...report });
  });
  app.get('/metrics', async (_request, reply) => {
    const text = await r.metrics.registry.metrics();
    return reply.type(r.metrics.registry.contentType).send(text);
  });
  app.get('/api/status', (_request, reply) => reply.send(statusOf(r)));
}

/** The latest rejects with images: from the line record's archive when there is one, else from memory. */
function latestRejects(deps: OperatorDeps, live: LiveView): unknown[] {
  if (!deps.record) return live.latestRejects();
  return deps.record.history({ decision: 'reject', withImage: true, limit: 12 }).map((row) => ({
    id: row.id,
    seq: row.seq,
    at: row.triggeredAt,
    decision: row.decision,
    verdict: row.verdict ?? null,
    score: row.defectScore ?? null,
    reason: row.failsafeReason ?? null,
    image: row.imageRef !== undefined,
  }));
}

export function partRoutes(app: FastifyInstance, { deps, live }: RouteDeps): void {
  app.get('/api/parts', (_request, reply) => reply.send(live.latestParts()));
  app.get('/api/rejects', (_request, reply) => reply.send(latestRejects(deps, live)));
  app.get<{ Params: { id: string } }>('/api/parts/:id/image', async (request, reply) => {
    const { id } = request.params;
    const archived = deps.record ? await deps.record.image(id) : null;
    const data = archived?.data ?? live.imageOf(id);
    if (data === undefined) return reply.code(404).send({ error: `no image kept for part ${id}` });
    return reply
      .type(archived?.contentType ?? contentType(data))
      .header('cache-control', 'max-age=3600')
      .send(data);
  });
  app.post<{ Params: { id: string }; Body: { label?: unknown; by?: unknown } }>(
    '/api/parts/:id/label',
    async (request, reply) => label(deps, request.params.id, request.body, reply),
  );
}

async function label(
  deps: OperatorDeps,
  id: string,
  body: { label?: unknown; by?: unknown } | undefined,
  reply: FastifyReply,
): Promise<FastifyReply> {
  if (!deps.record) {
    return reply.code(503).send({
      error: 'no line record is configured: labels need the line record (history and image archive) to keep them',
    });
  }
  const value = body?.label;
  if (value !== 'ok' && value !== 'defective')
    return reply.code(400).send({ error: 'label must be "ok" or "defective"' });
  const by = typeof body?.by === 'string' && body.by !== '' ? body.by : 'dashboard';
  try {
    const row = deps.record.label(id, value, by);
    deps.logger.info({ part: id, label: value, by }, 'operator label recorded');
    return reply.send(row);
  } catch (err) {
    const code = errorCode(err);
    return reply.code(code === 'LS_INTERNAL' ? 500 : 404).send({ error: errorMessage(err), code });
  }
}

export function alarmRoutes(app: FastifyInstance, { deps }: RouteDeps): void {
  app.get('/api/alarms', (_request, reply) => reply.send(deps.alarms()));
  app.post<{ Body: { target?: unknown; by?: unknown } | undefined }>('/api/alarms/ack', async (request, reply) => {
    const body = request.body ?? {};
    const target = typeof body.target === 'string' && body.target !== '' ? body.target : undefined;
    const by = typeof body.by === 'string' && body.by !== '' ? body.by : 'dashboard';
    const acked = deps.acknowledge(target, by);
    const known = target === undefined || (ALARM_KINDS as readonly string[]).includes(target);
    if (acked.length === 0 && !known) {
      return reply.code(404).send({ error: `no open alarm with id or kind "${target}"`, acknowledged: [] });
    }
    return reply.send({ acknowledged: acked });
  });
}
