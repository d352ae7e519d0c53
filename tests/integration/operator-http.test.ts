import { createServer } from 'node:net';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { runAck } from '../../src/cli/ack.js';
import { runStatus } from '../../src/cli/status.js';
import type { CliIo } from '../../src/cli/io.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { waitFor } from '../wait.js';
import { labelledFolder, lineConfig, memoryLogger, tempDir } from './harness.js';

let dir: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  dir = await tempDir('operator-http');
});

afterAll(async () => {
  await dir?.remove();
});

/** The sim line with the operator view on a free port and the embedded broker; `images` is a temp copy. */
async function simApp(name: string, over: Partial<ConfigInput> = {}, env: NodeJS.ProcessEnv = {}) {
  const images = await labelledFolder(path.join(dir.path, name), 3);
  const outbox = path.join(dir.path, `outbox-${name}`);
  const loaded = lineConfig({ images, mqttUrl: 'embedded', outbox, ...over });
  const config = { ...loaded.config, mqtt: { ...loaded.config.mqtt, embedded_port: 0 } };
  const log = memoryLogger();
  const app = createApp({ loaded: { ...loaded, config }, logger: log.logger, env });
  return { app, images, log };
}

async function get(app: App, route: string): Promise<Response> {
  return fetch(new URL(route, app.httpUrl));
}

function memoryIo(): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(chunk: Buffer, _enc, done) {
        add(chunk.toString());
        done();
      },
    });
  return {
    stdout: sink((s) => (out += s)),
    stderr: sink((s) => (err += s)),
    isTTY: false,
    env: {},
    signal: new AbortController().signal,
    logStream: () => ({ write: () => true }),
    out: () => out,
    err: () => err,
  };
}

describe('the operator view over HTTP', () => {
  it('/metrics is Prometheus text: parts by decision and reason, stage histograms in seconds, model info', async () => {
    const { app } = await simApp('metrics');
    await app.start(new AbortController().signal);
    try {
      await waitFor(() => app.summary().parts >= 6, 30_000, 'six parts');
      const res = await get(app, '/metrics');
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      const families = new Map(parsePrometheusTextFormat(await res.text()).map((f) => [f.name, f]));
      const parts = families.get('lineside_parts_total');
      expect(parts?.type).toBe('COUNTER');
      const total = (parts?.metrics ?? []).reduce((n, m) => n + Number(m.value), 0);
      expect(total).toBeGreaterThanOrEqual(6);
      expect(parts?.metrics.map((m) => m.labels)).toEqual(
        expect.arrayContaining([
          { decision: 'pass', reason: 'model' },
          { decision: 'reject', reason: 'model' },
        ]),
      );
      for (const stage of ['capture', 'preprocess', 'inference', 'trigger_to_verdict']) {
        const histogram = families.get(`lineside_${stage}_seconds`);
        expect(histogram?.type, stage).toBe('HISTOGRAM');
        const [sample] = histogram?.metrics ?? [];
        expect(Number(sample?.count), stage).toBeGreaterThanOrEqual(6);
        expect(Number(sample?.buckets?.['+Inf']), stage).toBe(Number(sample?.count));
        // Seconds, not milliseconds: no stage takes 10 s on average.
        expect(Number(sample?.sum) / Number(sample?.count), stage).toBeLessThan(10);
      }
      expect(families.get('lineside_gate_lateness_seconds')?.type).toBe('HISTOGRAM');
      const info = families.get('lineside_model_info')?.metrics[0];
      expect(info?.labels).toMatchObject({ name: 'casting-cnn', execution_provider: 'cpu' });
      for (const name of [
        'lineside_event_loop_lag_seconds',
        'lineside_outbox_depth',
        'lineside_outbox_dropped_total',
        'lineside_alarms_active',
        'lineside_up',
        'lineside_component_healthy',
      ])
        expect(families.has(name), name).toBe(true);
    } finally {
      await app.stop();
    }
  }, 90_000);

  it('/healthz turns 503 with the camera named when the camera folder disappears; the watchdog agrees', async () => {
    const { app, images } = await simApp('healthz');
    await app.start(new AbortController().signal);
    try {
      await waitFor(() => app.summary().parts >= 2, 30_000, 'two parts');
      const ready = await get(app, '/healthz');
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', components: { camera: { healthy: true } } });
      await rm(images, { recursive: true, force: true });
      let body: Record<string, unknown> = {};
      await waitFor(() => app.health().ready === false, 30_000, 'degraded health');
      const degraded = await get(app, '/healthz');
      expect(degraded.status).toBe(503);
      body = (await degraded.json()) as Record<string, unknown>;
      expect(body).toMatchObject({
        status: 'degraded',
        progress: false,
        components: {
          camera: { healthy: false, reason: expect.stringMatching(/consecutive parts failed camera_error/) },
          line: { healthy: false, reason: expect.stringMatching(/the camera fails/) },
          model: { healthy: true },
        },
      });
    } finally {
      await app.stop();
    }
  }, 90_000);

  it('lineside status and lineside ack talk to the running daemon; with none running they exit 69', async () => {
    const { app } = await simApp('cli', { alarms: { consecutive_rejects: 2 } });
    await app.start(new AbortController().signal);
    try {
      const url = app.httpUrl ?? '';
      const status = memoryIo();
      expect(await runStatus(['--url', url], status)).toBe(0);
      expect(status.out()).toMatch(/READY[\s\S]*ok {3}camera/);
      const json = memoryIo();
      expect(await runStatus(['--url', url, '--json'], json)).toBe(0);
      expect(JSON.parse(json.out())).toMatchObject({ health: { ready: true }, line_id: 'itest' });
      await waitFor(() => app.health() && app.summary().alarms.active > 0, 30_000, 'an alarm');
      const ack = memoryIo();
      expect(await runAck(['consecutive_rejects', '--by', 'tech', '--url', url], ack)).toBe(0);
      expect(ack.out()).toMatch(/^acknowledged \S+-A\d+ consecutive_rejects \(by tech\)/);
      const none = memoryIo();
      expect(await runAck(['no-such-alarm', '--url', url], none)).toBe(1);
    } finally {
      await app.stop();
    }
    const gone = memoryIo();
    expect(await runStatus(['--url', app.httpUrl ?? 'http://127.0.0.1:1/'], gone)).toBe(69);
    expect(gone.err()).toMatch(/no lineside daemon answers at http:\/\/127\.0\.0\.1:\d+\//);
  }, 90_000);

  it('a taken port fails the start with LS_HTTP_UNAVAILABLE before the line is armed', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const { app } = await simApp('port', { http: { port } });
      await expect(app.start(new AbortController().signal)).rejects.toMatchObject({ code: 'LS_HTTP_UNAVAILABLE' });
      expect(app.summary().parts).toBe(0);
      await app.stop();
    } finally {
      blocker.close();
    }
  }, 60_000);

  it('beyond loopback, changes need the token; reads do not', async () => {
    const token = 'swordfish';
    const { app } = await simApp('token', { http: { host: '0.0.0.0', port: 0 } }, { LINESIDE_HTTP_TOKEN: token });
    await app.start(new AbortController().signal);
    try {
      const url = (app.httpUrl ?? '').replace('0.0.0.0', '127.0.0.1');
      expect((await fetch(new URL('/healthz', url))).status).toBeLessThan(600);
      const ack = (auth?: string) =>
        fetch(new URL('/api/alarms/ack', url), {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
          body: '{}',
        });
      expect((await ack()).status).toBe(401);
      expect((await ack('Bearer wrong')).status).toBe(401);
      expect((await ack(`Bearer ${token}`)).status).toBe(200);
    } finally {
      await app.stop();
    }
    const { app: noToken } = await simApp('notoken', { http: { host: '0.0.0.0', port: 0 } });
    await expect(noToken.start(new AbortController().signal)).rejects.toMatchObject({ code: 'LS_CONFIG_INVALID' });
    await noToken.stop();
  }, 90_000);
});
