import type { FastifyInstance, FastifyReply } from 'fastify';
import { errorCode, errorMessage } from '../errors.js';
import type { OperatorDeps } from './types.js';

const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/tiff', 'application/octet-stream'];
const MAX_UPLOAD_BYTES = 32 * 2 ** 20;

/** What the upload page shows for one image. The heat map's values are little-endian float32, base64. */
export interface ClassifyResult {
  verdict: string;
  defectScore: number;
  threshold: number;
  preprocessMs: number;
  inferenceMs: number;
  heatmap: { width: number; height: number; values: string } | null;
  /** The bundle can explain its verdicts (a class-activation map). */
  cam: boolean;
}

function base64Floats(values: Float32Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
}

/**
 * POST /api/classify: one image in the body, its verdict and score from the line's own model. It never touches the
 * line: no part, no counter, no MQTT, no record. Uploads run one at a time, so they cannot crowd out the line's
 * inspections in the shared worker for more than one image's time.
 */
export function classifyRoutes(app: FastifyInstance, deps: OperatorDeps): void {
  let busy: Promise<unknown> = Promise.resolve();
  app.addContentTypeParser(IMAGE_TYPES, { parseAs: 'buffer', bodyLimit: MAX_UPLOAD_BYTES }, (_req, body, done) =>
    done(null, body),
  );
  app.post('/api/classify', async (request, reply) => {
    const image = request.body;
    if (!Buffer.isBuffer(image) || image.length === 0) {
      return reply.code(400).send({ error: 'send one image as the request body (Content-Type image/jpeg, image/png)' });
    }
    const run = busy.then(() => classify(deps, image, reply));
    busy = run.catch(() => undefined);
    return run;
  });
}

async function classify(deps: OperatorDeps, image: Buffer, reply: FastifyReply): Promise<FastifyReply> {
  const inspector = deps.inspector();
  if (!inspector) return reply.code(503).send({ error: 'the model is not loaded yet' });
  const signal = AbortSignal.timeout(10_000);
  try {
    if (inspector.explain) {
      const { inspection, heatmap } = await inspector.explain(image, signal);
      const map = { width: heatmap.width, height: heatmap.height, values: base64Floats(heatmap.values) };
      return reply.send({ ...inspection, heatmap: map, cam: true } satisfies ClassifyResult);
    }
    const inspection = await inspector.inspect(image, signal);
    return reply.send({ ...inspection, heatmap: null, cam: false } satisfies ClassifyResult);
  } catch (err) {
    const code = errorCode(err);
    const status = code === 'LS_IMAGE_DECODE' || code === 'LS_IMAGE_TOO_LARGE' ? 422 : 500;
    return reply.code(status).send({ error: errorMessage(err), code });
  }
}
