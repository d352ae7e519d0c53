import { copyFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { within } from '../unit/fifo.js';
import { waitFor } from '../wait.js';
import { BUNDLE, DATASET, labelledFolder, lineside, tempDir, type Proc } from './harness.js';

const require = createRequire(import.meta.url);
const { DgramSocket } = require('node-unix-socket') as typeof import('node-unix-socket');

/** Deadlines for a heavily loaded test machine: far above what an idle one takes (a few seconds), far below "never". */
const EVENT_DEADLINE_MS = 60_000;

let dir: { path: string; remove: () => Promise<void> };
let mixed: string;
let defective: string;
const running: Proc[] = [];

beforeAll(async () => {
  dir = await tempDir('gpio-faults');
  mixed = await labelledFolder(dir.path, 2);
  // Defective parts only, so that every part is a reject: copied at test time from the shared dataset.
  defective = path.join(dir.path, 'def-only', 'def_front');
  await mkdir(defective, { recursive: true });
  for (const name of (await readdir(path.join(DATASET, 'def_front'))).sort().slice(0, 4)) {
    await copyFile(path.join(DATASET, 'def_front', name), path.join(defective, name));
  }
});

afterAll(async () => {
  for (const proc of running) proc.kill('SIGKILL');
  await dir.remove();
});

interface LogLine {
  level?: number;
  time?: number;
  code?: string;
  msg?: string;
  kind?: string;
  seq?: number;
  decision?: string;
  verdict?: string | null;
  fired?: boolean;
  cause?: string;
  line?: string;
}

function logLines(proc: Proc): LogLine[] {
  return proc
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{"level"'))
    .map((l) => JSON.parse(l) as LogLine);
}

const partLines = (proc: Proc): LogLine[] =>
  logLines(proc).filter((l) => typeof l.seq === 'number' && l.decision !== undefined);
const alarmFor = (proc: Proc, line: string): LogLine | undefined =>
  logLines(proc).find(
    (l) => l.code === 'LS_ALARM' && l.kind === 'gpio_unavailable' && (l.msg ?? '').includes(`gpio line "${line}"`),
  );

/**
 * libgpiod 1.6 stand-ins in `folder`. gpiomon (a Node script, for CLOCK_MONOTONIC stamps in the --format the driver
 * asks for) prints a rising edge every `periodMs` on its first launch, and exits with an error as soon as the file
 * `die-gpiomon` appears (taken once, by rename); a relaunch monitors a silent line. gpioset records its arguments; a
 * holder (--mode=signal) holds until SIGTERM, but one holding the inactive level exits with an error after 0.2 s of
 * holding while the file `die-gpioset` exists: the line is lost while held, and again at each retry until the file goes.
 * (A one-shot death could hit a holder the supervisor is already replacing for a pulse, which reports nothing.)
 */
async function gpiodTools(
  folder: string,
  periodMs: number,
): Promise<{ gpiomon: string; gpioset: string; die: (tool: string) => string }> {
  await mkdir(folder, { recursive: true });
  const gpiomon = path.join(folder, 'gpiomon');
  await writeFile(
    gpiomon,
    `#!${process.execPath}
const fs = require('fs');
const args = process.argv.slice(2);
if (args[0] === '--version') { console.log('gpiomon (libgpiod) v1.6.3'); process.exit(0); }
const launches = ${JSON.stringify(path.join(folder, 'gpiomon.launches'))};
const first = !fs.existsSync(launches);
fs.appendFileSync(launches, process.pid + ' ' + JSON.stringify(args) + '\\n');
process.on('SIGTERM', () => process.exit(0));
const offset = args[args.length - 1];
const die = ${JSON.stringify(path.join(folder, 'die-gpiomon'))};
setInterval(() => {
  if (!first) return;
  try {
    fs.renameSync(die, die + '.taken');
    process.stderr.write('gpiomon: error reading GPIO events: No such device\\n');
    process.exit(1);
  } catch {}
  const ns = process.hrtime.bigint();
  process.stdout.write('1 ' + offset + ' ' + (ns / 1000000000n) + ' ' + (ns % 1000000000n) + '\\n');
}, ${periodMs});
`,
    { mode: 0o755 },
  );
  const gpioset = path.join(folder, 'gpioset');
  const die = path.join(folder, 'die-gpioset');
  await writeFile(
    gpioset,
    [
      '#!/bin/sh',
      'if [ "$1" = "--version" ]; then echo "gpioset (libgpiod) v1.6.3"; exit 0; fi',
      `echo "$*" >> ${path.join(folder, 'gpioset.log')}`,
      'case "$1" in --mode=exit) exit 0;; esac',
      "s=; trap 'kill $s 2>/dev/null; exit 0' TERM",
      'while :; do',
      '  sleep 0.2 & s=$!; wait $s',
      `  case "$*" in *=0) if [ -e ${die} ]; then echo "gpioset: error setting the GPIO line values: No such device" >&2; exit 1; fi;; esac`,
      'done',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  return { gpiomon, gpioset, die: (tool) => path.join(folder, `die-${tool}`) };
}

async function startDaemon(
  name: string,
  over: { images: string; gpiomon: string; gpioset: string },
  env: NodeJS.ProcessEnv = {},
): Promise<Proc> {
  const file = path.join(dir.path, `${name}.yaml`);
  await writeFile(
    file,
    stringify({
      line_id: name,
      model: { bundle: BUNDLE },
      camera: { type: 'folder', path: over.images, order: 'sequential', loop: true, timeout_ms: 5000 },
      gpio: { type: 'gpiod', chip: 'gpiochip0', gpiomon: over.gpiomon, gpioset: over.gpioset, restart_delay_ms: 200 },
      trigger: { line: 17 },
      gate: { line: 27, pulse_ms: 30 },
      // Two seconds from the camera to the gate: a loaded machine still decides each part before its gate moment.
      tracking: { mode: 'time', distance_mm: 2000, belt_speed_mm_s: 1000 },
      // Only the alarm under test: defective parts in a row raise none.
      alarms: { consecutive_rejects: 0 },
      mqtt: { url: 'mqtt://127.0.0.1:1', outbox_dir: path.join(dir.path, `outbox-${name}`) },
      http: { port: 0 }, // any free port: tests run side by side
    }),
  );
  const proc = lineside(['run', '--config', file], env);
  running.push(proc);
  return proc;
}

/** SIGTERM, exit 0, and the closing summary as the last stdout line. */
async function stopWithSummary(proc: Proc): Promise<Record<string, unknown>> {
  proc.kill('SIGTERM');
  const code = await within(proc.code, EVENT_DEADLINE_MS, 'exit after SIGTERM');
  expect(code, `stdout:\n${proc.stdout()}\nstderr:\n${proc.stderr()}`).toBe(0);
  return JSON.parse(proc.stdout().trim().split('\n').at(-1)!) as Record<string, unknown>;
}

describe('driver faults reach the line, the watchdog and the operator (issue 13, item 1)', () => {
  it('the trigger gpiomon dies mid-run: gpio_unavailable alarm naming "trigger", watchdog pings withheld, parts seen decided, clean stop', async () => {
    const tools = await gpiodTools(path.join(dir.path, 'trigger-tools'), 500);
    // A fake systemd notify socket: the daemon pings it every WATCHDOG_USEC / 2 while the line is healthy.
    const socketPath = path.join(dir.path, 'notify.sock');
    const socket = new DgramSocket();
    const pings: number[] = [];
    socket.on('data', (buf: Buffer) => {
      if (buf.toString().split('\n').includes('WATCHDOG=1')) pings.push(Date.now());
    });
    socket.bind(socketPath);
    try {
      const proc = await startDaemon(
        'trigger',
        { images: mixed, ...tools },
        { NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '400000' },
      );
      const context = (): string => `stdout:\n${proc.stdout()}\nstderr:\n${proc.stderr()}`;
      // Healthy first: pings arrive and parts get verdicts.
      await waitFor(
        () => pings.length >= 2 && partLines(proc).length >= 2,
        EVENT_DEADLINE_MS,
        'pings and two parts before the fault',
      );
      await writeFile(tools.die('gpiomon'), '');
      await waitFor(
        () => alarmFor(proc, 'trigger') !== undefined,
        EVENT_DEADLINE_MS,
        'the gpio_unavailable alarm for "trigger"',
      );
      const alarm = alarmFor(proc, 'trigger')!;
      expect(alarm).toMatchObject({ level: 50 });
      expect(alarm.msg).toMatch(/gpio line "trigger": .*gpiomon exit code 1: .*No such device/);
      const withheld = (): LogLine[] =>
        logLines(proc).filter(
          (l) => l.code === 'LS_WATCHDOG' && /withholding watchdog ping/.test(l.msg ?? '') && l.time! >= alarm.time!,
        );
      await waitFor(() => withheld().length >= 3, EVENT_DEADLINE_MS, 'three withheld watchdog pings');
      // Still running, still unhealthy: no ping once the watchdog has withheld one (a ping sent just before the
      // alarm is long received by the second withheld one, 200 ms later).
      expect(
        pings.filter((at) => at > withheld()[1]!.time!),
        context(),
      ).toEqual([]);
      // The driver relaunched gpiomon (a silent line now) and the daemon kept running.
      await waitFor(
        () => logLines(proc).some((l) => l.msg === 'gpiomon restarted'),
        EVENT_DEADLINE_MS,
        'the gpiomon relaunch',
      );
      const seen = partLines(proc).length;
      const summary = await stopWithSummary(proc);
      // Every part triggered before the fault was decided and logged; none was lost with the monitor.
      expect(summary).toMatchObject({ parts: partLines(proc).length });
      // One gpio_unavailable alarm (a load-dependent gate_late may come with it).
      expect(logLines(proc).filter((l) => l.code === 'LS_ALARM' && l.kind === 'gpio_unavailable')).toHaveLength(1);
      expect(partLines(proc).length).toBeGreaterThanOrEqual(seen);
      expect((summary.ok as number) + (summary.reject as number)).toBe(summary.parts);
      expect(
        partLines(proc).every((p) => p.verdict === 'ok' || p.verdict === 'defective'),
        context(),
      ).toBe(true);
    } finally {
      socket.close();
    }
  }, 240_000);

  it('the gate gpioset dies while holding: gpio_unavailable alarm naming "gate", and every reject after it recorded not fired', async () => {
    const tools = await gpiodTools(path.join(dir.path, 'gate-tools'), 400);
    const proc = await startDaemon('gate', { images: defective, ...tools });
    const context = (): string => `stdout:\n${proc.stdout()}\nstderr:\n${proc.stderr()}`;
    const fired = (): LogLine[] => partLines(proc).filter((p) => p.decision === 'reject' && p.fired === true);
    await waitFor(() => fired().length >= 2, EVENT_DEADLINE_MS, 'two rejects fired before the fault');
    await writeFile(tools.die('gpioset'), '');
    await waitFor(
      () => alarmFor(proc, 'gate') !== undefined,
      EVENT_DEADLINE_MS,
      'the gpio_unavailable alarm for "gate"',
    );
    // The line is back (gpioset holds again at the next retry), but nothing acknowledged the alarm.
    await rm(tools.die('gpioset'));
    const notFired = (): LogLine[] => logLines(proc).filter((l) => l.code === 'LS_GATE_NOT_FIRED');
    await waitFor(() => notFired().length >= 3, EVENT_DEADLINE_MS, 'three rejects not fired after the fault');
    const lines = logLines(proc);
    const summary = await stopWithSummary(proc);

    const alarmAt = lines.findIndex((l) => l.code === 'LS_ALARM' && l.kind === 'gpio_unavailable');
    expect(lines[alarmAt]?.msg, context()).toMatch(/gpio line "gate": .*gpioset exit status 1/);
    // No confirm sensor: a part is logged when its gate fires, so every reject logged after the alarm came after it.
    // (Lines before SIGTERM only: parts still on the belt at the stop are left to the gate's safe state.)
    const after = lines.slice(alarmAt + 1).filter((l) => typeof l.seq === 'number' && l.decision === 'reject');
    expect(after.length).toBeGreaterThanOrEqual(3);
    for (const part of after) {
      expect(part, context()).toMatchObject({ level: 50, code: 'LS_GATE_NOT_FIRED', fired: false });
      expect(['LS_GPIO_UNAVAILABLE', 'LS_GPIO_WRITE']).toContain(part.cause);
    }
    expect(summary.gate_not_fired as number).toBeGreaterThanOrEqual(after.length);
    expect(summary.gate_not_fired as number).toBeGreaterThan(0);
  }, 240_000);
});
