import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createApp, defaultDrivers } from '../../src/app.js';
import { LinesideError } from '../../src/errors.js';
import { isSimGpio } from '../../src/io/gpio/index.js';
import { waitFor } from '../wait.js';
import { BUNDLE, labelledFolder, lineConfig, lineside, memoryLogger, tempDir } from './harness.js';

/** Well above the ~1 s an idle machine takes, far below "never". */
const EXIT_DEADLINE_MS = 5000;

let dir: { path: string; remove: () => Promise<void> };
let images: string;

beforeAll(async () => {
  dir = await tempDir('start-failure');
  images = await labelledFolder(dir.path, 1);
});
afterAll(async () => dir.remove());

/** libgpiod 1.6 stand-ins: gpioset records its arguments and holds until SIGTERM; gpiomon finds its line busy. */
async function gpiodTools(): Promise<{ gpioset: string; gpiomon: string; calls: () => Promise<string[]> }> {
  const log = path.join(dir.path, 'gpioset.log');
  const version = (tool: string): string =>
    `if [ "$1" = "--version" ]; then echo "${tool} (libgpiod) v1.6.3"; exit 0; fi\n`;
  const hold = [
    'case "$1" in --mode=exit) exit 0;; esac',
    "s=; trap 'kill $s 2>/dev/null; exit 0' TERM",
    'while :; do sleep 1 & s=$!; wait $s; done',
    '',
  ].join('\n');
  const gpioset = path.join(dir.path, 'gpioset');
  await writeFile(gpioset, `#!/bin/sh\n${version('gpioset')}echo "$*" >> ${log}\n${hold}`, { mode: 0o755 });
  const gpiomon = path.join(dir.path, 'gpiomon');
  const busy = 'echo "gpiomon: error requesting GPIO lines: Device or resource busy" >&2\nexit 1\n';
  await writeFile(gpiomon, `#!/bin/sh\n${version('gpiomon')}${busy}`, { mode: 0o755 });
  return { gpioset, gpiomon, calls: async () => (await readFile(log, 'utf8')).trim().split('\n') };
}

describe('a start that fails part-way (issue 13, item 5)', () => {
  it('a busy trigger line: exit 69 with LS_GPIO_UNAVAILABLE at once, every output driven safe, nothing left running', async () => {
    const tools = await gpiodTools();
    const file = path.join(dir.path, 'busy.yaml');
    await writeFile(
      file,
      stringify({
        line_id: 'busy',
        model: { bundle: BUNDLE },
        camera: { type: 'folder', path: images },
        gpio: { type: 'gpiod', chip: 'gpiochip0', gpioset: tools.gpioset, gpiomon: tools.gpiomon },
        trigger: { line: 17 },
        gate: { line: 27, pulse_ms: 30 },
        tracking: { mode: 'time', distance_mm: 200, belt_speed_mm_s: 1000 },
        // The line's heartbeat timer is what kept the old daemon alive after the failed start.
        heartbeat: { line: 6, period_ms: 50 },
        mqtt: { url: 'mqtt://127.0.0.1:1', outbox_dir: path.join(dir.path, 'outbox') },
        http: { port: 0 }, // any free port: tests run side by side
      }),
    );
    const proc = lineside(['run', '--config', file]);
    const exited = proc.code.then((code) => ({ code, atMs: Date.now() }));
    const lines = (): { level?: number; time?: number; code?: string; msg?: string }[] =>
      proc
        .stdout()
        .split('\n')
        .filter((l) => l.startsWith('{"level"'))
        .map((l) => JSON.parse(l) as { level?: number; time?: number; code?: string; msg?: string });
    const fatal = (): ReturnType<typeof lines>[number] | undefined => lines().find((l) => l.level === 60);
    await Promise.race([waitFor(() => fatal() !== undefined, 60_000, 'the start failure'), exited]);
    // Idle, the daemon exits about 0.8 s after the failure (the rollback drives two outputs safe through gpioset,
    // then the ONNX runtime's teardown); the deadline leaves room for a loaded test machine. The old daemon never
    // exited: the line it had started kept its heartbeat timer running, and SIGTERM only aborted a finished start.
    const deadline = new Promise<'still running'>((resolve) =>
      setTimeout(() => resolve('still running'), EXIT_DEADLINE_MS).unref(),
    );
    const outcome = await Promise.race([exited, deadline]);
    if (outcome === 'still running') proc.kill('SIGKILL');
    expect(outcome, `stdout:\n${proc.stdout()}\nstderr:\n${proc.stderr()}`).toEqual({
      code: 69,
      atMs: expect.any(Number),
    });
    const failure = fatal();
    expect(failure).toMatchObject({
      code: 'LS_GPIO_UNAVAILABLE',
      msg: expect.stringMatching(/cannot start: .*"trigger".*busy/),
    });
    const failedAtMs = lines().find((l) => /^start failed at inputs/.test(l.msg ?? ''))?.time ?? failure!.time!;
    console.log(`exit ${(outcome as { atMs: number }).atMs - failedAtMs} ms after the failed start`);

    // Each output's supervisor drove its safe level on the way out (gpioset --mode=exit), gate and heartbeat alike.
    const calls = await tools.calls();
    expect(calls).toEqual(expect.arrayContaining(['--mode=exit gpiochip0 27=0', '--mode=exit gpiochip0 6=0']));
    for (const offset of ['27', '6']) {
      const last = calls.filter((c) => c.endsWith(` ${offset}=0`) || c.endsWith(` ${offset}=1`)).at(-1);
      expect(last).toBe(`--mode=exit gpiochip0 ${offset}=0`);
    }
  });

  it('in process: start rejects with the failing stage error after every stage already started has stopped, outputs safe', async () => {
    const { logger, records } = memoryLogger();
    const busy = new LinesideError('LS_GPIO_UNAVAILABLE', 'gpio input "confirm": line 22 busy');
    const app = createApp({
      loaded: lineConfig({
        images,
        mqttUrl: 'mqtt://127.0.0.1:1',
        outbox: path.join(dir.path, 'outbox-app'),
        heartbeat: { line: 6, period_ms: 50 },
      }),
      logger,
      env: {},
      drivers: {
        gpio: (config, deps) => {
          const real = defaultDrivers.gpio(config, deps);
          const input = real.input.bind(real);
          // The second input fails: the trigger, the line and the outputs are already running by then.
          real.input = (name, line) =>
            Object.assign(input(name, line), name === 'confirm' ? { start: () => Promise.reject(busy) } : {});
          return real;
        },
      },
    });
    await expect(app.start(new AbortController().signal)).rejects.toBe(busy);
    const gpio = app.gpio;
    if (!gpio || !isSimGpio(gpio)) throw new Error('expected the sim GPIO driver');
    for (const output of ['gate', 'heartbeat'])
      expect(gpio.writes(output).at(-1), output).toMatchObject({ active: false, cause: 'stop' });
    const rollback = records().find((r) => r.msg === 'start failed at inputs; stopping what had started');
    const stopped = ['line', 'http', 'mqtt', 'record', 'gate threads', 'outputs', 'gpio', 'camera', 'inference'];
    expect(rollback).toMatchObject({ code: 'LS_GPIO_UNAVAILABLE', stopping: stopped });
    // An orderly way down: the line stopped before the outputs it drives, so nothing wrote to a stopped output.
    expect(records().filter((r) => (r.level as number) >= 50)).toEqual([]);
    await app.stop();
    expect(app.summary()).toMatchObject({ parts: 0, model: { version: expect.any(String) } });
  });
});
