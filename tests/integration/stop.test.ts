import { readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { makeFifo, releaseFifo, within } from '../unit/fifo.js';
import { createApp } from '../../src/app.js';
import { isSimGpio, type SimGpioDriver } from '../../src/io/gpio/index.js';
import { Mosquitto } from '../unit/io/mqtt/helpers.js';
import { elapsed, waitFor } from '../wait.js';
import { BUNDLE, labelledFolder, lineConfig, lineside, memoryLogger, tempDir, type Proc } from './harness.js';

let dir: { path: string; remove: () => Promise<void> };
let images: string;
let broker: Mosquitto;
const fifos: string[] = [];
const running: Proc[] = [];

/** More FIFOs than libuv has pool threads (4 unless UV_THREADPOOL_SIZE says otherwise). */
const FIFO_COUNT = Math.max(4, Number(process.env.UV_THREADPOOL_SIZE ?? 4)) + 2;

beforeAll(async () => {
  dir = await tempDir('stop');
  images = await labelledFolder(dir.path, 4);
  // FIFOs linked in among the images, as a replay folder assembled from links would hold them.
  for (let i = 0; i < FIFO_COUNT; i++) {
    const cls = i % 2 === 0 ? 'def_front' : 'ok_front';
    const names = (await readdir(path.join(images, cls))).sort();
    const fifo = makeFifo(path.join(dir.path, `pipe-${i}`));
    fifos.push(fifo);
    await symlink(fifo, path.join(images, cls, `${names[i % names.length]!.replace(/\.jpe?g$/, '')}-pipe-${i}.jpeg`));
  }
  broker = await Mosquitto.create(dir.path);
  await broker.start();
});

afterAll(async () => {
  for (const proc of running) proc.kill('SIGKILL');
  for (const fifo of fifos) releaseFifo(fifo);
  await broker.kill();
  await dir.remove();
});

async function start(name: string, over: Record<string, unknown> = {}): Promise<Proc> {
  const file = path.join(dir.path, name);
  await writeFile(
    file,
    stringify({
      line_id: 'stop',
      model: { bundle: BUNDLE },
      camera: { type: 'folder', path: images, order: 'sequential', timeout_ms: 1000 },
      gpio: { type: 'sim', part_interval_ms: 150, confirm_delay_ms: null },
      trigger: { line: 17 },
      gate: { line: 27, pulse_ms: 30 },
      heartbeat: { line: 5, period_ms: 200 },
      tracking: { mode: 'time', distance_mm: 300, belt_speed_mm_s: 1000 },
      mqtt: { url: broker.url, outbox_dir: path.join(dir.path, `outbox-${name}`) },
      http: { port: 0 }, // any free port: tests run side by side
      ...over,
    }),
  );
  const proc = lineside(['run', '--config', file]);
  running.push(proc);
  return proc;
}

const count = (text: string, pattern: RegExp): number => (text.match(pattern) ?? []).length;

describe('a hanging read cannot stall the daemon', () => {
  it('FIFOs among the images fail their parts (camera_error), the rest are inspected and logged, and SIGTERM completes with the summary', async () => {
    const proc = await start('fifos.yaml');
    // Two passes over the folder: every FIFO refused twice, with inspected parts (and their log lines) after them.
    await waitFor(
      () =>
        count(proc.stdout(), /"failsafe":"camera_error"/g) >= 2 * FIFO_COUNT &&
        count(proc.stdout(), /"verdict":"(ok|defective)"/g) >= 16,
      90_000,
      'two passes over the folder',
    );
    expect(proc.stdout()).toContain('not a regular file (a FIFO)');
    expect(proc.stdout()).not.toContain('"failsafe":"camera_timeout"');
    proc.kill('SIGTERM');
    expect(await within(proc.code, 30_000, 'exit after SIGTERM')).toBe(0);
    const summary = JSON.parse(proc.stdout().trim().split('\n').at(-1)!) as {
      parts: number;
      ok: number;
      reject: number;
      failsafe: Record<string, number>;
    };
    expect(summary.failsafe.camera_error).toBeGreaterThanOrEqual(2 * FIFO_COUNT);
    expect(summary.failsafe.camera_timeout ?? 0).toBe(0);
    expect(summary.ok + summary.reject).toBe(summary.parts);
  }, 150_000);

  it('a second SIGTERM during a long drain exits at once, after driving the gate and heartbeat outputs safe', async () => {
    // 20 s from camera to gate and a 60 s drain: an orderly stop waits at least 20 s for the parts on the belt.
    // A part is logged when it reaches the gate, so the first verdicts mean the belt has been full for 20 s.
    const proc = await start('drain.yaml', {
      tracking: { mode: 'time', distance_mm: 20_000, belt_speed_mm_s: 1000 },
      pipeline: { drain_ms: 60_000 },
    });
    await waitFor(() => count(proc.stdout(), /"verdict":"(ok|defective)"/g) >= 3, 90_000, 'parts reaching the gate');
    proc.kill('SIGTERM');
    await waitFor(() => proc.stdout().includes('"msg":"stopping"'), 10_000, 'the orderly stop to begin');
    proc.kill('SIGTERM');
    await within(proc.code, 10_000, 'exit after the second SIGTERM');
    expect(proc.stderr()).toMatch(/second SIGTERM: outputs safe \(gate, heartbeat\); exiting at once/);
    // Ended by the signal itself: process.exit() would wait for libuv's pool, which a stuck read can hold for good.
    expect(proc.signal()).toBe('SIGTERM');
  }, 150_000);
});

describe('App.forceSafe', () => {
  it('puts the gate (mid-pulse), alarm and heartbeat outputs in their safe state at once, and nothing moves them after', async () => {
    const loaded = lineConfig({
      images: path.join(images, 'def_front'),
      mqttUrl: broker.url,
      outbox: path.join(dir.path, 'outbox-force'),
      heartbeat: { line: 5, period_ms: 50 },
      alarms: { consecutive_rejects: 0, output: { line: 6 } },
    });
    const app = createApp({ loaded, logger: memoryLogger().logger, env: {} });
    await app.start(new AbortController().signal);
    try {
      const gpio = app.gpio as SimGpioDriver;
      expect(isSimGpio(gpio)).toBe(true);
      // Every image here is defective (or a FIFO, rejected fail-safe): the gate pulses for every part.
      const last = (output: string): { active: boolean; cause: string } | undefined => gpio.writes(output).at(-1);
      await waitFor(
        () => last('gate')?.active === true && last('heartbeat')?.active === true,
        30_000,
        'the gate and the heartbeat active at once',
      );
      expect(app.forceSafe()).toEqual({ safe: ['gate', 'alarm', 'heartbeat'], failed: [] });
      for (const output of ['gate', 'alarm', 'heartbeat'])
        expect(last(output)).toMatchObject({ active: false, cause: 'force_safe' });
      const settled = gpio.writes().length;
      // Parts keep arriving on the sim belt (one per gpio.part_interval_ms): let four go by; none may move an output.
      await elapsed(
        performance.now(),
        4 * (loaded.config.gpio.type === 'sim' ? loaded.config.gpio.part_interval_ms : 150),
      );
      expect(
        gpio
          .writes()
          .slice(settled)
          .filter((w) => w.active),
      ).toEqual([]);
    } finally {
      await app.stop();
    }
  }, 60_000);
});
