import { cp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { aliasBomb } from '../fixtures/alias-bomb.js';
import { Mosquitto, Observer } from '../unit/io/mqtt/helpers.js';
import { waitFor } from '../wait.js';
import { BUNDLE, ROOMY_TIMING, labelledFolder, lineside, tempDir } from './harness.js';

/**
 * Each test here starts the CLI (node, tsx, the model) once or twice: seconds on an idle machine, tens of seconds
 * on a loaded one (30 s, the suite's default, ran out). The deadline only bounds a hang.
 */
const PROCESS_TEST_TIMEOUT_MS = 120_000;

let dir: { path: string; remove: () => Promise<void> };
let images: string;
let broker: Mosquitto;

function config(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    line_id: 'cli',
    model: { bundle: BUNDLE },
    camera: { type: 'folder', path: images, order: 'shuffle' },
    gpio: { type: 'sim', part_interval_ms: 150, confirm_delay_ms: null },
    trigger: { line: 17 },
    gate: { line: 27, pulse_ms: 30 },
    // 200 mm to the gate made every part 'late' on a loaded machine (no verdict, no latency in the summary).
    ...ROOMY_TIMING,
    mqtt: { url: broker.url, outbox_dir: path.join(dir.path, 'outbox') },
    http: { port: 0 }, // any free port: tests run side by side
    ...over,
  };
}

async function writeConfig(name: string, value: unknown): Promise<string> {
  const file = path.join(dir.path, name);
  await writeFile(file, typeof value === 'string' ? value : stringify(value));
  return file;
}

beforeAll(async () => {
  dir = await tempDir('cli');
  images = await labelledFolder(dir.path, 6);
  broker = await Mosquitto.create(dir.path);
  await broker.start();
});

afterAll(async () => {
  await broker.kill();
  await dir.remove();
});

describe('lineside run as a process', { timeout: PROCESS_TEST_TIMEOUT_MS }, () => {
  it('stops cleanly on SIGTERM mid-run: exit 0, summary as the last stdout line, status offline on the broker', async () => {
    const observer = await Observer.connect(broker.url, 'lineside/cli/#');
    const proc = lineside(['run', '--config', await writeConfig('ok.yaml', config())]);
    await waitFor(() => (proc.stdout().match(/"decision"/g) ?? []).length >= 4, 60_000, 'four parts');
    proc.kill('SIGTERM');
    expect(await proc.code).toBe(0);
    const lines = proc.stdout().trim().split('\n');
    const summary = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    expect(summary).toMatchObject({
      parts: expect.any(Number),
      ok: expect.any(Number),
      reject: expect.any(Number),
      gate_pulses: expect.any(Number),
      escapes: 0,
    });
    expect(summary.parts).toBeGreaterThanOrEqual(4);
    expect((summary.ok as number) + (summary.reject as number)).toBe(summary.parts);
    expect(summary.latency_ms).toMatchObject({ p50: expect.any(Number), p99: expect.any(Number) });
    // Every part the summary counts reached the broker before the process ended: nothing lost on the way out.
    const runId = summary.run_id as string;
    const verdicts = observer
      .json<{ run_id: string; seq: number }>('lineside/cli/verdict')
      .filter((v) => v.run_id === runId);
    expect(verdicts.map((v) => v.seq).sort((a, b) => a - b)).toEqual(
      Array.from({ length: summary.parts as number }, (_, i) => i + 1),
    );
    await waitFor(
      () => observer.on('lineside/cli/status').some((m) => m.payload.includes('"offline"')),
      5000,
      'offline status',
    );
    const last = observer.on('lineside/cli/status').at(-1)!;
    expect(JSON.parse(last.payload)).toMatchObject({ state: 'offline' });
    await observer.close();
  });

  it('--max-parts N stops by itself after exactly N parts', async () => {
    const proc = lineside(['run', '--config', await writeConfig('max.yaml', config()), '--max-parts', '5']);
    expect(await proc.code).toBe(0);
    const summary = JSON.parse(proc.stdout().trim().split('\n').at(-1)!) as {
      parts: number;
      triggers: { accepted: number };
    };
    expect(summary.parts).toBe(5);
    expect(summary.triggers.accepted).toBe(5);
  });
});

describe('bad configuration and bad models', { timeout: PROCESS_TEST_TIMEOUT_MS }, () => {
  const cases: [string, (c: Record<string, unknown>) => unknown, RegExp][] = [
    [
      'an out-of-range value',
      (c) => ({ ...c, trigger: { line: 17, debounce_ms: 5000 } }),
      /trigger\.debounce_ms: must be <= 1000 \(got 5000\)/,
    ],
    ['an unknown key', (c) => ({ ...c, gate: { line: 27, pulse_width: 30 } }), /gate\.pulse_width: unknown key/],
    [
      'an unknown driver type',
      (c) => ({ ...c, gpio: { type: 'wiringpi' } }),
      /gpio\.type: must be one of "sim", "onoff", "gpiod" \(got "wiringpi"\)/,
    ],
    ['a wrong type', (c) => ({ ...c, mqtt: { url: 5 } }), /mqtt\.url: must be string \(got 5\)/],
  ];

  for (const [what, mutate, message] of cases) {
    it(`exits 78 naming the key path for ${what}, before touching hardware`, async () => {
      // A gpiod config whose tools would leave a mark if anything ran them.
      const marker = path.join(dir.path, `touched-${what.replace(/\W/g, '')}`);
      const tool = path.join(dir.path, 'gpiomon-marker.sh');
      await writeFile(tool, `#!/bin/sh\ntouch ${marker}\nsleep 5\n`, { mode: 0o755 });
      const file = await writeConfig(
        'bad.yaml',
        mutate(config({ gpio: { type: 'gpiod', gpiomon: tool, gpioset: tool } })),
      );
      for (const args of [
        ['validate-config', file],
        ['run', '--config', file],
      ]) {
        const proc = lineside(args);
        expect(await proc.code).toBe(78);
        expect(proc.stderr()).toMatch(message);
        expect(proc.stderr()).toContain('LS_CONFIG_INVALID');
      }
      await expect(readFile(marker)).rejects.toThrow();
    });
  }

  it('exits 78 for unreadable YAML and for a missing file', async () => {
    const broken = lineside(['validate-config', await writeConfig('broken.yaml', 'camera: [\n')]);
    expect(await broken.code).toBe(78);
    expect(broken.stderr()).toContain('LS_CONFIG_UNREADABLE');
    const missing = lineside(['run', '--config', path.join(dir.path, 'nope.yaml')]);
    expect(await missing.code).toBe(78);
  });

  it('exits 78 with LS_CONFIG_UNREADABLE for a YAML alias bomb (billion laughs), not 70 LS_INTERNAL', async () => {
    const file = await writeConfig('bomb.yaml', aliasBomb());
    for (const args of [
      ['validate-config', file],
      ['run', '--config', file],
    ]) {
      const proc = lineside(args);
      expect(await proc.code).toBe(78);
      expect(proc.stderr()).toContain('LS_CONFIG_UNREADABLE');
      expect(proc.stderr()).not.toContain('LS_INTERNAL');
    }
  });

  it('refuses to arm with a model whose checksum does not match: exit 78, LS_MODEL_CHECKSUM, no part inspected', async () => {
    const bundle = path.join(dir.path, 'tampered');
    await mkdir(bundle, { recursive: true });
    await cp(BUNDLE, bundle, { recursive: true });
    const onnxName = (await readdir(bundle)).find((f) => f.endsWith('.onnx'))!;
    const onnx = await readFile(path.join(bundle, onnxName));
    onnx.writeUInt8(onnx.readUInt8(onnx.length - 10) ^ 0xff, onnx.length - 10);
    await writeFile(path.join(bundle, onnxName), onnx);
    const proc = lineside(['run', '--config', await writeConfig('tampered.yaml', config({ model: { bundle } }))]);
    expect(await proc.code).toBe(78);
    expect(proc.stdout()).toContain('LS_MODEL_CHECKSUM');
    expect(proc.stdout()).not.toContain('"decision"');
  });

  it('refuses to arm when a pinned probe drifts from its recorded score: exit 78, LS_MODEL_SELFTEST, no part inspected', async () => {
    const bundle = path.join(dir.path, 'moved-probe');
    await mkdir(bundle, { recursive: true });
    await cp(BUNDLE, bundle, { recursive: true });
    const metadataFile = path.join(bundle, 'model.json');
    const metadata = JSON.parse(await readFile(metadataFile, 'utf8')) as {
      probes: { inputs: { expected_score: number }[] };
    };
    metadata.probes.inputs[0]!.expected_score += 0.01;
    await writeFile(metadataFile, JSON.stringify(metadata));
    const proc = lineside(['run', '--config', await writeConfig('moved-probe.yaml', config({ model: { bundle } }))]);
    expect(await proc.code).toBe(78);
    expect(proc.stdout()).toContain('LS_MODEL_SELFTEST');
    expect(proc.stdout()).toContain('probes/gradient-10.u8');
    expect(proc.stdout()).not.toContain('"decision"');
  });
});
