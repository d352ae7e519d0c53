import { afterEach, describe, expect, it } from 'vitest';
import { healthReport, ComponentHealth } from '../../../src/app/health.js';
import { runSummary } from '../../../src/app/summary.js';
import { httpSection } from '../../../src/config/sections/http.js';
import type { PartRecord } from '../../../src/domain/part.js';
import type { CapturedImage, Inspector } from '../../../src/domain/ports.js';
import type { HistoryRow, LineRecordReader } from '../../../src/domain/record.js';
import { LinesideError } from '../../../src/errors.js';
import { OperatorServer } from '../../../src/http/server.js';
import type { OperatorDeps } from '../../../src/http/types.js';
import { captureLogger } from '../io/gpio/helpers.js';

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
let server: OperatorServer | undefined;

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

function listeners<T>() {
  const set = new Set<(v: T) => void>();
  return {
    on: (l: (v: T) => void) => (set.add(l), () => set.delete(l)),
    emit: (v: T) => set.forEach((l) => l(v)),
  };
}

async function serve(over: Partial<OperatorDeps> = {}) {
  const parts = listeners<PartRecord>();
  const images = listeners<CapturedImage>();
  const deps: OperatorDeps = {
    config: httpSection.parse({ port: 0 }),
    logger: captureLogger().logger,
    env: {},
    lineId: 'l1',
    runId: 'r1',
    health: () =>
      healthReport({
        line: () => undefined,
        components: new ComponentHealth(),
        modelLoaded: () => false,
        cameraOpen: () => false,
        gpioOpen: () => false,
        gateThreads: () => undefined,
        mqtt: () => undefined,
        disk: () => undefined,
      }),
    summary: () => runSummary({ runId: 'r1', line: undefined, mqtt: undefined, inspector: undefined }),
    alarms: () => [],
    acknowledge: () => [],
    model: () => undefined,
    inspector: () => undefined,
    mqtt: () => undefined,
    record: undefined,
    onPart: parts.on,
    onImage: images.on,
    ...over,
  };
  server = new OperatorServer(deps);
  await server.start(new AbortController().signal);
  const url = server.url ?? '';
  const call = (path: string, init?: RequestInit) => fetch(new URL(path, url), init);
  return { parts, images, call };
}

const post = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

function record(seq: number, over: Partial<PartRecord> = {}): PartRecord {
  return {
    seq,
    id: `r1-${seq}`,
    runId: 'r1',
    triggerMs: seq,
    triggeredAt: new Date().toISOString(),
    source: `/img/${seq}.jpg`,
    decision: 'reject',
    verdict: 'defective',
    defectScore: 0.9,
    stagesMs: {},
    tracking: { mode: 'time', fired: true, confirmed: null },
    ...over,
  };
}

describe('the operator server', () => {
  it('without a line record: thumbnails from the captured images, and a clear 503 for labels', async () => {
    const { parts, images, call } = await serve();
    images.emit({ data: JPEG, source: '/img/1.jpg' });
    parts.emit(record(1));
    const image = await call('/api/parts/r1-1/image');
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await image.arrayBuffer())).toEqual(JPEG);
    expect(await (await call('/api/rejects')).json()).toMatchObject([{ id: 'r1-1', image: true, score: 0.9 }]);
    const label = await call('/api/parts/r1-1/label', post({ label: 'ok' }));
    expect(label.status).toBe(503);
    expect(await label.json()).toMatchObject({ error: expect.stringMatching(/no line record is configured/) });
  });

  it('with a line record: rejects and images from the archive, and labels recorded there', async () => {
    const labels: [string, string, string][] = [];
    const row: HistoryRow = {
      id: 'r0-7',
      seq: 7,
      runId: 'r0',
      triggeredAt: '2026-01-01T00:00:00.000Z',
      decision: 'reject',
      verdict: 'defective',
      defectScore: 0.97,
      imageRef: 'r0-7_defective_0.970.jpg',
    };
    const reader: LineRecordReader = {
      history: () => [row],
      image: (id) =>
        Promise.resolve(id === 'r0-7' ? { ref: row.imageRef ?? '', data: JPEG, contentType: 'image/jpeg' } : null),
      label: (id, label, by) => {
        if (id !== 'r0-7') throw new LinesideError('LS_INTERNAL', 'unknown');
        labels.push([id, label, by]);
        return { ...row, label: { label, by, at: 'now' } };
      },
    };
    const { call } = await serve({ record: reader });
    expect(await (await call('/api/rejects')).json()).toMatchObject([{ id: 'r0-7', image: true, score: 0.97 }]);
    expect((await call('/api/parts/r0-7/image')).status).toBe(200);
    expect((await call('/api/parts/r0-8/image')).status).toBe(404);
    const res = await call('/api/parts/r0-7/label', post({ label: 'ok', by: 'anna' }));
    expect(res.status).toBe(200);
    expect(labels).toEqual([['r0-7', 'ok', 'anna']]);
    expect((await call('/api/parts/r0-7/label', post({ label: 'maybe' }))).status).toBe(400);
  });

  it('classify: uses explain when the bundle has a CAM, plain inspect otherwise, and counts no part', async () => {
    const inspection = {
      defectScore: 0.8,
      verdict: 'defective' as const,
      threshold: 0.5,
      preprocessMs: 1,
      inferenceMs: 2,
    };
    const inspector = {
      inspect: () => Promise.resolve(inspection),
      explain: () =>
        Promise.resolve({ inspection, heatmap: { width: 2, height: 1, values: new Float32Array([0, 1]) } }),
    } as unknown as Inspector;
    const { call } = await serve({ inspector: () => inspector });
    const res = await call('/api/classify', { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: JPEG });
    const body = (await res.json()) as { cam: boolean; heatmap: { values: string; width: number } };
    expect(body).toMatchObject({ verdict: 'defective', defectScore: 0.8, cam: true, heatmap: { width: 2, height: 1 } });
    const values = Buffer.from(body.heatmap.values, 'base64');
    expect([...new Float32Array(values.buffer, values.byteOffset, 2)]).toEqual([0, 1]);
    await server?.stop();
    const plain = await serve({
      inspector: () => ({ inspect: () => Promise.resolve(inspection) }) as unknown as Inspector,
    });
    const res2 = await plain.call('/api/classify', {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: JPEG,
    });
    expect(await res2.json()).toMatchObject({ verdict: 'defective', cam: false, heatmap: null });
    const metrics = await (await plain.call('/metrics')).text();
    expect(metrics).not.toMatch(/^lineside_parts_total\{/m);
  });

  it('/healthz is 503 degraded with reasons while nothing has started', async () => {
    const { call } = await serve();
    const res = await call('/healthz');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({
      status: 'degraded',
      components: { model: { healthy: false, reason: 'not loaded' } },
    });
  });
});
