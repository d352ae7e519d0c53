import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runDoctor } from '../../src/cli/doctor.js';
import type { CliIo } from '../../src/cli/io.js';
import { BUNDLE, labelledFolder, tempDir } from './harness.js';

interface DoctorReport {
  ok: boolean;
  checks: { name: string; status: string; detail: string; code?: string; action?: string }[];
}

function io(): { io: CliIo; out: () => string } {
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (c: Buffer) => (text += c.toString()));
  return {
    io: {
      stdout,
      stderr: new PassThrough(),
      isTTY: false,
      env: {},
      signal: new AbortController().signal,
      logStream: () => stdout,
    },
    out: () => text,
  };
}

let dir: { path: string; remove: () => Promise<void> };
let images: string;

beforeAll(async () => {
  dir = await tempDir('doctor');
  images = await labelledFolder(dir.path, 2);
});
afterAll(async () => dir.remove());

async function configFile(name: string, over: Record<string, unknown>): Promise<string> {
  const file = path.join(dir.path, name);
  await writeFile(
    file,
    stringify({
      model: { bundle: BUNDLE },
      camera: { type: 'folder', path: images },
      gpio: { type: 'sim' },
      trigger: { line: 1 },
      gate: { line: 2 },
      mqtt: { url: 'mqtt://127.0.0.1:1', outbox_dir: path.join(dir.path, 'outbox') },
      ...over,
    }),
  );
  return file;
}

describe('lineside doctor', () => {
  it('passes a sound installation, naming the model, the provider in use and the camera; an unreachable broker is only a warning', async () => {
    const { io: cli, out } = io();
    expect(await runDoctor(['--config', await configFile('good.yaml', {}), '--json'], cli)).toBe(0);
    const report = JSON.parse(out()) as DoctorReport;
    expect(report.ok).toBe(true);
    const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
    expect(byName.model?.status).toBe('ok');
    expect(byName['self-test']).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^on cpu: 5 probes/) });
    expect(byName['execution provider']).toMatchObject({
      status: 'ok',
      detail: expect.stringContaining('in use: cpu'),
    });
    expect(byName.camera).toMatchObject({ status: 'ok', detail: expect.stringContaining('captured') });
    expect(byName['mqtt broker']).toMatchObject({ status: 'warn', code: 'LS_MQTT_CONNECT' });
    // The gate threads start as the daemon's would; where real-time priority is refused it says what to grant.
    const timing = byName['gate timing'];
    expect(timing?.detail).toMatch(/^\d gate threads?/);
    if (timing?.status === 'warn') expect(timing.action).toContain('LimitRTPRIO=50');
    else expect(timing).toMatchObject({ status: 'ok', detail: expect.stringContaining('SCHED_FIFO 50') as string });
  });

  it('fails a tampered model with its code and what to do, and a missing camera folder', async () => {
    const bundle = path.join(dir.path, 'tampered');
    await cp(BUNDLE, bundle, { recursive: true });
    const onnxName = (await readdir(bundle)).find((f) => f.endsWith('.onnx'))!;
    const bytes = await readFile(path.join(bundle, onnxName));
    bytes.writeUInt8(bytes.readUInt8(100) ^ 0x01, 100);
    await writeFile(path.join(bundle, onnxName), bytes);
    const file = await configFile('bad.yaml', {
      model: { bundle },
      camera: { type: 'folder', path: path.join(dir.path, 'nothing-here') },
    });
    const { io: cli, out } = io();
    expect(await runDoctor(['--config', file], cli)).toBe(1);
    expect(out()).toMatch(/FAIL\s+model .*\[LS_MODEL_CHECKSUM\]/);
    expect(out()).toMatch(/FAIL\s+camera .*\[LS_CAMERA_NOT_FOUND\]/);
    expect(out()).toContain('Reinstall the model bundle');
    expect(out()).toMatch(/doctor: 2 problem\(s\) must be fixed/);
  });

  it('fails the self-test of a bundle whose probe no longer scores as recorded, with its code', async () => {
    const bundle = path.join(dir.path, 'moved-probe');
    await cp(BUNDLE, bundle, { recursive: true });
    const metadataFile = path.join(bundle, 'model.json');
    const metadata = JSON.parse(await readFile(metadataFile, 'utf8')) as {
      probes: { inputs: { expected_score: number }[] };
    };
    metadata.probes.inputs[1]!.expected_score -= 0.01;
    await writeFile(metadataFile, JSON.stringify(metadata));
    const { io: cli, out } = io();
    expect(await runDoctor(['--config', await configFile('moved.yaml', { model: { bundle } })], cli)).toBe(1);
    expect(out()).toMatch(/FAIL\s+self-test .*probe probes\/grey-128\.u8.*\[LS_MODEL_SELFTEST\]/);
  });

  it('--build-engine says TensorRT is unavailable here, with LS_EP_UNAVAILABLE and a non-zero exit', async () => {
    const { io: cli, out } = io();
    const file = await configFile('trt.yaml', { inference: { tensorrt: { cache_dir: path.join(dir.path, 'trt') } } });
    expect(await runDoctor(['--build-engine', '--config', file, '--json'], cli)).toBe(1);
    const report = JSON.parse(out()) as DoctorReport;
    expect(report.ok).toBe(false);
    expect(report.checks).toEqual([
      expect.objectContaining({
        name: 'tensorrt engine',
        status: 'fail',
        code: 'LS_EP_UNAVAILABLE',
        detail: expect.stringMatching(/^TensorRT is unavailable: .*tensorrt/) as string,
      }),
    ]);
    const usage = io();
    expect(await runDoctor(['--build-engine'], usage.io)).toBe(64);
  });

  it('reports an invalid config by key path', async () => {
    const { io: cli, out } = io();
    expect(
      await runDoctor(['--config', await configFile('invalid.yaml', { gate: { line: 2, pulse_ms: 0 } })], cli),
    ).toBe(1);
    expect(out()).toMatch(/FAIL\s+config\s+gate\.pulse_ms: must be >= 1 \(got 0\)/);
  });
});
