import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpiodGpio, type GpiodGpioConfig } from '../../../../src/config/sections/gpio.js';
import type { LinesideError } from '../../../../src/errors.js';
import { parseGpiomonLine } from '../../../../src/io/gpio/gpiod-input.js';
import { createKernelClock } from '../../../../src/io/gpio/gpiod-tools.js';
import { createGpio, type EdgeEvent, type GpioDriver } from '../../../../src/io/gpio/index.js';
import { elapsed, waitFor } from '../../../wait.js';
import { captureLogger, signal } from './helpers.js';

/**
 * No GPIO chip here (kernel without GPIOLIB, so no gpio-sim either): the real driver runs against fake
 * gpiomon/gpioset programs written per test. They speak the libgpiod 1.6 interface (arguments, --format
 * output, --mode=signal holding until SIGTERM, --mode=exit) and log what they were asked to do.
 */

interface Launch {
  /**
   * Events printed by this launch of gpiomon, `afterMs` after it started: the physical edge and its kernel
   * timestamp, `atMs` after the launch on CLOCK_MONOTONIC (an event is printed after it happened).
   */
  events?: { afterMs: number; rising: boolean; atMs: number; raw?: string }[];
  exitAfterMs?: number;
  exitCode?: number;
  stderr?: string;
}

let dir: string;
let logFile: string;

function writeTool(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, body);
  chmodSync(path, 0o755);
  return path;
}

/** gpiomon fake: a node script (it needs CLOCK_MONOTONIC, as the kernel stamps events with it). */
function fakeGpiomon(launches: Launch[], version = 'v1.6.3'): string {
  writeFileSync(join(dir, 'gpiomon.json'), JSON.stringify(launches));
  return writeTool(
    'gpiomon',
    `#!${process.execPath}
const fs = require('fs');
const args = process.argv.slice(2);
if (args[0] === '--version') { console.log('gpiomon (libgpiod) ${version}'); process.exit(0); }
const log = ${JSON.stringify(logFile)};
process.on('SIGTERM', () => { fs.appendFileSync(log, 'gpiomon sigterm ' + process.pid + '\\n'); process.exit(0); });
const previous = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\\n').filter((l) => l.startsWith('gpiomon start')).length : 0;
fs.appendFileSync(log, 'gpiomon start ' + process.pid + ' ' + JSON.stringify(args) + '\\n');
const launches = JSON.parse(fs.readFileSync(${JSON.stringify(join(dir, 'gpiomon.json'))}, 'utf8'));
const launch = launches[Math.min(previous, launches.length - 1)] || {};
const offset = args[args.length - 1];
const baseNs = process.hrtime.bigint();
fs.appendFileSync(log, 'gpiomon base ' + baseNs + '\\n');
for (const ev of launch.events || []) {
  setTimeout(() => {
    if (ev.raw) { process.stdout.write(ev.raw + '\\n'); return; }
    const ns = baseNs + BigInt(Math.round(ev.atMs * 1e6));
    process.stdout.write((ev.rising ? 1 : 0) + ' ' + offset + ' ' + (ns / 1000000000n) + ' ' + (ns % 1000000000n) + '\\n');
  }, ev.afterMs);
}
if (launch.exitAfterMs !== undefined) {
  setTimeout(() => { process.stderr.write(launch.stderr || ''); process.exit(launch.exitCode ?? 1); }, launch.exitAfterMs);
}
setInterval(() => {}, 1 << 30);
`,
  );
}

/**
 * gpioset fake: a shell script. Like the real 1.6 tool, --mode=signal holds until SIGTERM and --mode=exit sets
 * the level and exits at once.
 */
function fakeGpioset(version = 'v1.6.3'): string {
  const log = JSON.stringify(logFile);
  return writeTool(
    'gpioset',
    `#!/bin/sh
if [ "$1" = "--version" ]; then echo "gpioset (libgpiod) ${version}"; exit 0; fi
if [ -e ${JSON.stringify(join(dir, 'gpioset.fail'))} ]; then
  echo "gpioset: error setting the GPIO line values: Device or resource busy" >&2
  exit 1
fi
s=
trap 'kill $s 2>/dev/null; echo "gpioset end $$" >> ${log}; exit 0' TERM
echo "gpioset start $$ $*" >> ${log}
case "$1" in --mode=exit) echo "gpioset end $$" >> ${log}; exit 0;; esac
while :; do sleep 5 & s=$!; wait $s; done
`,
  );
}

function logLines(): string[] {
  return existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : [];
}

interface GpiosetCall {
  what: 'start' | 'end';
  pid: number;
  /** For starts: mode, chip and offset=level, e.g. "--mode=signal gpiochip0 22=1". */
  args: string;
}

function gpiosetCalls(): GpiosetCall[] {
  return logLines()
    .filter((l) => l.startsWith('gpioset'))
    .map((l) => {
      const [, what, pid, ...rest] = l.split(' ');
      return { what: what as 'start' | 'end', pid: Number(pid), args: rest.join(' ') };
    });
}

/** Holders started, in order, as "--mode=... chip offset=level". */
function starts(): string[] {
  return gpiosetCalls()
    .filter((c) => c.what === 'start')
    .map((c) => c.args);
}

/** The pid of the gpioset process holding `args` most recently. */
function holderPid(args: string): number {
  const call = gpiosetCalls()
    .filter((c) => c.what === 'start' && c.args === args)
    .at(-1);
  if (!call) throw new Error(`no gpioset ${args}`);
  return call.pid;
}

function ended(pid: number): boolean {
  return gpiosetCalls().some((c) => c.what === 'end' && c.pid === pid);
}

function config(overrides: Partial<GpiodGpioConfig>): GpiodGpioConfig {
  return gpiodGpio.parse({ type: 'gpiod', start_check_ms: 100, restart_delay_ms: 200, ...overrides });
}

describe('gpiomon output and kernel timestamps', () => {
  it('parses the 1.6 --format line (nanoseconds are not zero-padded)', () => {
    expect(parseGpiomonLine('1 17 1234 5678')).toEqual({ rising: true, offset: 17, sec: 1234, nsec: 5678 });
    expect(parseGpiomonLine('0 3 0 999999999')).toEqual({ rising: false, offset: 3, sec: 0, nsec: 999999999 });
    expect(parseGpiomonLine('event:  RISING EDGE offset: 17 timestamp: [1.000000001]')).toBeNull();
    expect(parseGpiomonLine('2 17 1 1')).toBeNull();
    expect(parseGpiomonLine('')).toBeNull();
  });

  it('converts CLOCK_MONOTONIC kernel timestamps to performance.now()', () => {
    const clock = createKernelClock();
    const hr = process.hrtime.bigint();
    const now = performance.now();
    const converted = clock.toPerfMs(Number(hr / 1_000_000_000n), Number(hr % 1_000_000_000n));
    expect(Math.abs(converted - now)).toBeLessThan(1);
  });

  it('converts CLOCK_REALTIME timestamps (kernels before 5.7) to performance.now()', () => {
    const clock = createKernelClock();
    const wallMs = Date.now() - 250;
    const now = performance.now();
    const converted = clock.toPerfMs(Math.floor(wallMs / 1000), (wallMs % 1000) * 1e6);
    expect(converted - (now - 250)).toBeGreaterThan(-5);
    expect(converted - (now - 250)).toBeLessThan(5);
  });
});

describe('gpiod gpio driver with fake libgpiod 1.6 tools', () => {
  let driver: GpioDriver;
  let log: ReturnType<typeof captureLogger>;
  let errors: LinesideError[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lineside-gpiod-'));
    logFile = join(dir, 'calls.log');
    log = captureLogger();
    errors = [];
  });

  afterEach(async () => {
    await driver?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function build(cfg: Partial<GpiodGpioConfig>): GpioDriver {
    driver = createGpio(config(cfg), { logger: log.logger });
    driver.onError?.((err) => errors.push(err));
    return driver;
  }

  it('refuses libgpiod 2.x tools and missing tools with LS_GPIO_UNAVAILABLE', async () => {
    build({ gpiomon: fakeGpiomon([], 'v2.1.3'), gpioset: fakeGpioset() });
    await expect(driver.start(signal)).rejects.toMatchObject({
      code: 'LS_GPIO_UNAVAILABLE',
      message: expect.stringMatching(/2\.x/) as unknown,
    });
    build({ gpiomon: join(dir, 'nope'), gpioset: fakeGpioset() });
    await expect(driver.start(signal)).rejects.toMatchObject({
      code: 'LS_GPIO_UNAVAILABLE',
      message: expect.stringMatching(/install the gpiod package/) as unknown,
    });
  });

  it('monitors one line per gpiomon, line-buffered, asking the kernel for the electrical edge', async () => {
    build({ gpiomon: fakeGpiomon([{}]), gpioset: fakeGpioset(), chip: 'gpiochip4' });
    await driver.start(signal);
    await driver.input('trigger', { line: 17, active_low: false, edge: 'rising', debounce_ms: 0 }).start(signal);
    await driver.input('bin_full', { line: 5, active_low: true, edge: 'rising', debounce_ms: 0 }).start(signal);
    await driver.input('confirm', { line: 6, active_low: false, edge: 'both', debounce_ms: 0 }).start(signal);
    await waitFor(() => expect(logLines().filter((l) => l.startsWith('gpiomon start'))).toHaveLength(3));
    const starts = logLines()
      .filter((l) => l.startsWith('gpiomon start'))
      .map((l) => JSON.parse(l.split(' ').slice(3).join(' ')) as string[]);
    // The three monitors start concurrently: the order their start lines reach the log is not fixed.
    const byLine = (argv: string[]): number => Number(argv.at(-1));
    expect(starts.sort((a, b) => byLine(a) - byLine(b))).toEqual([
      ['--line-buffered', '--format=%e %o %s %n', '--falling-edge', 'gpiochip4', '5'],
      ['--line-buffered', '--format=%e %o %s %n', 'gpiochip4', '6'],
      ['--line-buffered', '--format=%e %o %s %n', '--rising-edge', 'gpiochip4', '17'],
    ]);
  });

  it('delivers logical edges stamped with the kernel time on the performance.now() base', async () => {
    build({
      gpiomon: fakeGpiomon([
        {
          events: [
            { afterMs: 50, rising: false, atMs: 20 },
            { afterMs: 60, rising: true, atMs: 30 },
          ],
        },
      ]),
      gpioset: fakeGpioset(),
    });
    await driver.start(signal);
    const eye = driver.input('trigger', { line: 17, active_low: true, edge: 'both', debounce_ms: 0 });
    const events: (EdgeEvent & { arrivedMs: number })[] = [];
    eye.onEdge((e) => events.push({ ...e, arrivedMs: performance.now() }));
    await eye.start(signal);
    await waitFor(() => expect(events).toHaveLength(2));
    // active_low: electrically falling is logically rising.
    expect(events.map((e) => e.edge)).toEqual(['rising', 'falling']);
    expect(eye.read()).toBe(false);
    // The fake stamped each edge atMs (20, 30) after its start on CLOCK_MONOTONIC, as the kernel would: where
    // its start lies on this process's performance.now() base follows from one reading of both clocks here.
    const gpiomonStartNs = BigInt(
      logLines()
        .find((l) => l.startsWith('gpiomon base '))!
        .split(' ')[2]!,
    );
    const beforeMs = performance.now();
    const nowNs = process.hrtime.bigint();
    const afterMs = performance.now();
    const gpiomonStartMs = (beforeMs + afterMs) / 2 - Number(nowNs - gpiomonStartNs) / 1e6;
    const atMs = [20, 30];
    events.forEach((e, i) => {
      // Both clock readings (the driver's and this one) are exact to well under a millisecond.
      expect(Math.abs(e.timeMs - (gpiomonStartMs + atMs[i]!))).toBeLessThan(1 + (afterMs - beforeMs) / 2);
      // The kernel saw the edge at least 30 ms before gpiomon printed it.
      expect(e.arrivedMs - e.timeMs).toBeGreaterThanOrEqual(29.9);
    });
  });

  it('debounces on kernel timestamps, not on arrival times', async () => {
    build({
      gpiomon: fakeGpiomon([
        {
          events: [
            { afterMs: 50, rising: true, atMs: 10 },
            { afterMs: 50, rising: true, atMs: 11 }, // 1 ms after the first: bounce
            { afterMs: 80, rising: true, atMs: 14 }, // printed 30 ms later, but 4 ms after the first at the kernel
            { afterMs: 120, rising: true, atMs: 40 }, // last line: once it is in, every line before it was handled
          ],
        },
      ]),
      gpioset: fakeGpioset(),
    });
    await driver.start(signal);
    const eye = driver.input('trigger', { line: 17, active_low: false, edge: 'rising', debounce_ms: 2 });
    const events: EdgeEvent[] = [];
    eye.onEdge((e) => events.push(e));
    await eye.start(signal);
    await waitFor(() => expect(events.at(-1)!.timeMs - events[0]!.timeMs).toBeCloseTo(30, 3));
    expect(events).toHaveLength(3);
    expect(events[1]!.timeMs - events[0]!.timeMs).toBeCloseTo(4, 3);
  });

  it('logs unparsable gpiomon output and carries on', async () => {
    build({
      gpiomon: fakeGpiomon([
        {
          events: [
            { afterMs: 30, rising: true, atMs: 0, raw: 'garbage' },
            { afterMs: 40, rising: true, atMs: 1 },
          ],
        },
      ]),
      gpioset: fakeGpioset(),
    });
    await driver.start(signal);
    const eye = driver.input('trigger', { line: 17, active_low: false, edge: 'rising', debounce_ms: 0 });
    const events: EdgeEvent[] = [];
    eye.onEdge((e) => events.push(e));
    await eye.start(signal);
    await waitFor(() => expect(events).toHaveLength(1));
    expect(log.lines.some((l) => l.msg === 'unparsable gpiomon output' && l.text === 'garbage')).toBe(true);
  });

  it('fails start with LS_GPIO_UNAVAILABLE and gpiomon stderr when the line cannot be requested', async () => {
    build({
      gpiomon: fakeGpiomon([
        { exitAfterMs: 0, exitCode: 1, stderr: 'gpiomon: unable to request lines: Device or resource busy\n' },
      ]),
      gpioset: fakeGpioset(),
      // The start check ends as soon as gpiomon exits: the longest window costs nothing and leaves a loaded
      // machine all the time it needs to start node for the fake.
      start_check_ms: 10_000,
    });
    await driver.start(signal);
    const eye = driver.input('trigger', { line: 17, active_low: false, edge: 'rising', debounce_ms: 0 });
    await expect(eye.start(signal)).rejects.toMatchObject({
      code: 'LS_GPIO_UNAVAILABLE',
      message: expect.stringMatching(
        /"trigger" \(gpiochip0 line 17\): gpiomon exit code 1: gpiomon: unable to request lines: Device or resource busy/,
      ) as unknown,
    });
  });

  it('reports a gpiomon that dies while running as LS_GPIO_UNAVAILABLE, logs it, and restarts it', async () => {
    build({
      gpiomon: fakeGpiomon([
        { exitAfterMs: 250, exitCode: 1, stderr: 'gpiomon: error waiting for events: No such device\n' },
        { events: [{ afterMs: 100, rising: true, atMs: 1 }] },
      ]),
      gpioset: fakeGpioset(),
    });
    await driver.start(signal);
    const eye = driver.input('trigger', { line: 17, active_low: false, edge: 'rising', debounce_ms: 0 });
    const events: EdgeEvent[] = [];
    eye.onEdge((e) => events.push(e));
    await eye.start(signal);
    await waitFor(() => expect(errors).toHaveLength(1));
    expect(errors[0]!.code).toBe('LS_GPIO_UNAVAILABLE');
    expect(errors[0]!.message).toMatch(
      /gpiomon exit code 1: gpiomon: error waiting for events: No such device; edges are missed/,
    );
    expect(log.errors().some((l) => l.code === 'LS_GPIO_UNAVAILABLE')).toBe(true);
    // Restarted after restart_delay_ms, and the new monitor's edges arrive.
    await waitFor(() => expect(events).toHaveLength(1));
    expect(logLines().filter((l) => l.startsWith('gpiomon start'))).toHaveLength(2);
  });

  it('stop terminates every gpiomon', async () => {
    build({ gpiomon: fakeGpiomon([{}]), gpioset: fakeGpioset() });
    await driver.start(signal);
    await driver.input('trigger', { line: 17, active_low: false, edge: 'rising', debounce_ms: 0 }).start(signal);
    await driver.input('encoder', { line: 18, active_low: false, edge: 'rising', debounce_ms: 0 }).start(signal);
    await waitFor(() => expect(logLines().filter((l) => l.startsWith('gpiomon start'))).toHaveLength(2));
    await driver.stop();
    expect(logLines().filter((l) => l.startsWith('gpiomon sigterm'))).toHaveLength(2);
    expect(errors).toHaveLength(0);
  });

  it('holds outputs through one supervisor each: safe at start, the old holder ends before the new one starts, safe at stop', async () => {
    build({ gpiomon: fakeGpiomon([]), gpioset: fakeGpioset(), chip: 'gpiochip0' });
    await driver.start(signal);
    const gate = driver.output('gate', { line: 22, active_low: false });
    const lamp = driver.output('alarm', { line: 23, active_low: true });
    await gate.start(signal);
    await lamp.start(signal);
    await waitFor(() => expect(starts()).toEqual(['--mode=signal gpiochip0 22=0', '--mode=signal gpiochip0 23=1']));
    const safeGatePid = holderPid('--mode=signal gpiochip0 22=0');
    gate.write(true);
    expect(gate.active).toBe(true);
    await waitFor(() => expect(starts().at(-1)).toBe('--mode=signal gpiochip0 22=1'));
    const calls = gpiosetCalls();
    const endOfSafe = calls.findIndex((c) => c.what === 'end' && c.pid === safeGatePid);
    const startOfActive = calls.findIndex((c) => c.what === 'start' && c.args === '--mode=signal gpiochip0 22=1');
    expect(endOfSafe).toBeGreaterThanOrEqual(0);
    expect(endOfSafe).toBeLessThan(startOfActive);
    lamp.write(true);
    await waitFor(() => expect(starts().at(-1)).toBe('--mode=signal gpiochip0 23=0'));
    const activeGatePid = holderPid('--mode=signal gpiochip0 22=1');
    await driver.stop();
    // Each output: holder ended, then the safe level driven once with --mode=exit.
    expect(ended(activeGatePid)).toBe(true);
    expect(starts().slice(-2).sort()).toEqual(['--mode=exit gpiochip0 22=0', '--mode=exit gpiochip0 23=1']);
    for (const call of gpiosetCalls().filter((c) => c.what === 'start')) expect(ended(call.pid)).toBe(true);
    expect(gate.active).toBe(false);
    expect(errors).toHaveLength(0);
  });

  it('forceSafe ends the active holder and drives the safe level at once, honouring active_low, and nothing restarts it', async () => {
    build({ gpiomon: fakeGpiomon([]), gpioset: fakeGpioset(), chip: 'gpiochip0' });
    await driver.start(signal);
    const gate = driver.output('gate', { line: 22, active_low: true });
    await gate.start(signal);
    gate.write(true);
    await waitFor(() => expect(starts().at(-1)).toBe('--mode=signal gpiochip0 22=0'), 15_000, 'the active holder');
    const activePid = holderPid('--mode=signal gpiochip0 22=0');
    gate.forceSafe();
    expect(gate.active).toBe(false);
    await waitFor(() => expect(starts().at(-1)).toBe('--mode=exit gpiochip0 22=1'), 15_000, 'the safe level');
    expect(ended(activePid)).toBe(true);
    // A restart would come restart_delay_ms (200) after the holder ended: wait that out, then there is none.
    await elapsed(performance.now(), 2 * 200);
    expect(starts().at(-1)).toBe('--mode=exit gpiochip0 22=1');
    expect(errors).toHaveLength(0);
  });

  it('never blocks on write: writes are coalesced and the latest level is the one held', async () => {
    build({ gpiomon: fakeGpiomon([]), gpioset: fakeGpioset() });
    await driver.start(signal);
    const gate = driver.output('gate', { line: 22, active_low: false });
    await gate.start(signal);
    // spawn() would fork the whole daemon (milliseconds of stalled event loop): a write is one line into the
    // supervisor's stdin and starts no process here.
    const children = (): number => process.getActiveResourcesInfo().filter((r) => r === 'ProcessWrap').length;
    const childrenBefore = children();
    for (let i = 0; i < 10; i += 1) gate.write(i % 2 === 0);
    expect(children()).toBe(childrenBefore);
    // The driver sees the last level written held; the holder it started logs its start a moment later (the first
    // 22=0 is the safe level held since start). A holder replaced at once may be killed before it logs anything.
    await waitFor(
      () => log.lines.some((l) => l.msg === 'gpioset switched'),
      15_000,
      'the last level written to be held',
    );
    await waitFor(
      () => starts().filter((a) => a === '--mode=signal gpiochip0 22=0').length >= 2,
      15_000,
      'the new holder',
    );
    // Stopping closes the supervisor's stdin: it handles every level it was sent, then drives the safe level.
    await driver.stop();
    const held = starts().filter((a) => a.startsWith('--mode=signal'));
    expect(held.at(-1)).toBe('--mode=signal gpiochip0 22=0');
    expect(held.length).toBeLessThanOrEqual(4);
    expect(starts().at(-1)).toBe('--mode=exit gpiochip0 22=0');
    expect(errors).toHaveLength(0);
  });

  it('reports a write whose gpioset cannot request the line as LS_GPIO_WRITE and retries', async () => {
    // A holder that dies within start_check_ms of its start never took the line (LS_GPIO_WRITE): here it dies at
    // once, and 2 s leaves a loaded machine room for the fork, the shell and the pipe in between (100 ms did not).
    build({ gpiomon: fakeGpiomon([]), gpioset: fakeGpioset(), start_check_ms: 2000 });
    await driver.start(signal);
    const gate = driver.output('gate', { line: 22, active_low: false });
    await gate.start(signal);
    writeFileSync(join(dir, 'gpioset.fail'), '');
    gate.write(true);
    await waitFor(() => expect(errors.length).toBeGreaterThanOrEqual(1));
    expect(errors[0]!.code).toBe('LS_GPIO_WRITE');
    expect(errors[0]!.message).toMatch(
      /gpioset exit status 1 before driving it to 1: gpioset: error setting the GPIO line values: Device or resource busy/,
    );
    rmSync(join(dir, 'gpioset.fail'));
    await waitFor(() => expect(starts().at(-1)).toBe('--mode=signal gpiochip0 22=1'));
  });

  it('re-holds an output whose gpioset was killed, and says the line was let go', async () => {
    const startCheckMs = 50;
    build({ gpiomon: fakeGpiomon([]), gpioset: fakeGpioset(), start_check_ms: startCheckMs });
    await driver.start(signal);
    const gate = driver.output('gate', { line: 22, active_low: false });
    await gate.start(signal);
    gate.write(true);
    await waitFor(() => expect(starts().at(-1)).toBe('--mode=signal gpiochip0 22=1'));
    // A holder dying within start_check_ms of its start never took the line (LS_GPIO_WRITE); this one dies
    // start_check_ms after the driver learnt it was held, so the line was let go.
    await waitFor(
      () => log.lines.some((l) => l.msg === 'gpioset switched'),
      15_000,
      'the driver to learn the line is held',
    );
    await elapsed(performance.now(), startCheckMs);
    process.kill(holderPid('--mode=signal gpiochip0 22=1'), 'SIGKILL');
    await waitFor(() => expect(errors).toHaveLength(1));
    expect(errors[0]!.code).toBe('LS_GPIO_UNAVAILABLE');
    expect(errors[0]!.message).toMatch(/gpioset exit status 137 while holding it/);
    await waitFor(() => expect(starts().filter((a) => a === '--mode=signal gpiochip0 22=1')).toHaveLength(2));
  });

  it('reports a dead supervisor as LS_GPIO_UNAVAILABLE and restarts it at the level last written', async () => {
    build({ gpiomon: fakeGpiomon([]), gpioset: fakeGpioset() });
    await driver.start(signal);
    const gate = driver.output('gate', { line: 22, active_low: false });
    await gate.start(signal);
    gate.write(true);
    await waitFor(() => expect(starts().at(-1)).toBe('--mode=signal gpiochip0 22=1'));
    const holder = holderPid('--mode=signal gpiochip0 22=1');
    // gpioset's parent is the holder subshell, whose parent is the supervisor.
    const parentOf = (pid: number): number =>
      Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    const supervisorPid = parentOf(parentOf(holder));
    process.kill(supervisorPid, 'SIGKILL');
    await waitFor(() => expect(errors).toHaveLength(1));
    expect(errors[0]!.code).toBe('LS_GPIO_UNAVAILABLE');
    expect(errors[0]!.message).toMatch(/supervisor killed by SIGKILL.*not held/);
    await waitFor(() => expect(starts().filter((a) => a === '--mode=signal gpiochip0 22=1')).toHaveLength(2));
    // The orphaned holder of the killed supervisor is ours to clean up here (on a real chip it would block the line).
    process.kill(holder, 'SIGTERM');
  });

  it('fails output start with LS_GPIO_UNAVAILABLE when gpioset cannot hold the line, and refuses writes', async () => {
    // The holder's death must be reported within start_check_ms of its start, as in the test above.
    build({ gpiomon: fakeGpiomon([]), gpioset: fakeGpioset(), start_check_ms: 2000 });
    await driver.start(signal);
    writeFileSync(join(dir, 'gpioset.fail'), '');
    const gate = driver.output('gate', { line: 22, active_low: false });
    await expect(gate.start(signal)).rejects.toMatchObject({
      code: 'LS_GPIO_UNAVAILABLE',
      message: expect.stringMatching(/Device or resource busy/) as unknown,
    });
    expect(() => gate.write(true)).toThrow(expect.objectContaining({ code: 'LS_GPIO_WRITE' }));
    expect(errors).toHaveLength(0);
  });

  it('refuses to open lines before the driver has started', async () => {
    build({ gpiomon: fakeGpiomon([]), gpioset: fakeGpioset() });
    await expect(driver.input('trigger', { line: 1, active_low: false }).start(signal)).rejects.toMatchObject({
      code: 'LS_GPIO_UNAVAILABLE',
    });
    await expect(driver.output('gate', { line: 2, active_low: false }).start(signal)).rejects.toMatchObject({
      code: 'LS_GPIO_UNAVAILABLE',
    });
    expect(logLines()).toEqual([]);
  });

  it('drives the gate safe when the daemon is killed with SIGKILL: no orphan gpioset keeps it active', async () => {
    const gpioset = fakeGpioset();
    const gpiomon = fakeGpiomon([]);
    const index = fileURLToPath(new URL('../../../../src/io/gpio/index.ts', import.meta.url));
    const script = join(dir, 'daemon.mts');
    writeFileSync(
      script,
      `import { createGpio } from ${JSON.stringify(index)};
const noop = () => {};
const logger = { child: () => logger, debug: noop, info: noop, warn: noop, error: noop };
const driver = createGpio({ type: 'gpiod', chip: 'gpiochip0', gpiomon: ${JSON.stringify(gpiomon)}, gpioset: ${JSON.stringify(gpioset)}, start_check_ms: 50, restart_delay_ms: 1000 }, { logger });
const signal = new AbortController().signal;
await driver.start(signal);
const gate = driver.output('gate', { line: 22, active_low: false });
await gate.start(signal);
gate.write(true);
setInterval(() => {}, 1000);
`,
    );
    const daemon = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: fileURLToPath(new URL('../../../..', import.meta.url)),
      stdio: 'ignore',
    });
    try {
      await waitFor(() => expect(starts().at(-1)).toBe('--mode=signal gpiochip0 22=1'), 15_000);
      const activePid = holderPid('--mode=signal gpiochip0 22=1');
      daemon.kill('SIGKILL');
      // The supervisor's stdin closes with the daemon: it ends the active holder and drives the safe level.
      await waitFor(() => expect(starts().at(-1)).toBe('--mode=exit gpiochip0 22=0'));
      expect(ended(activePid)).toBe(true);
      await waitFor(() => {
        for (const call of gpiosetCalls().filter((c) => c.what === 'start')) expect(ended(call.pid)).toBe(true);
      });
    } finally {
      daemon.kill('SIGKILL');
    }
  });
});
