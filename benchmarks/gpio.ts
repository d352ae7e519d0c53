/**
 * GPIO figures: gpiod output switch latency (fake gpioset, real process spawns), gpiomon pipe latency,
 * event-loop blocking while spawning, and the sim's encoder cost and timing with real timers.
 * Run: node --import tsx benchmarks/gpio.ts
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
import { pino } from 'pino';
import { gpiodGpio, simGpio } from '../src/config/sections/gpio.js';
import { createGpio, isSimGpio, type EdgeEvent } from '../src/io/gpio/index.js';

const logger = pino({ level: 'silent' });
const signal = new AbortController().signal;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function stats(values: number[]): string {
  const s = [...values].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return `n=${s.length} median=${q(0.5).toFixed(2)} p95=${q(0.95).toFixed(2)} max=${s.at(-1)!.toFixed(2)} ms`;
}

async function gpiodOutput(dir: string): Promise<void> {
  const gpioset = join(dir, 'gpioset');
  writeFileSync(
    gpioset,
    '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "gpioset (libgpiod) v1.6.3"; exit 0; fi\n' +
      's=\ntrap \'kill $s 2>/dev/null; exit 0\' TERM\ncase "$1" in --mode=exit) exit 0;; esac\nwhile :; do sleep 5 & s=$!; wait $s; done\n',
  );
  chmodSync(gpioset, 0o755);
  const gpiomon = join(dir, 'gpiomon');
  writeFileSync(gpiomon, '#!/bin/sh\necho "gpiomon (libgpiod) v1.6.3"\n');
  chmodSync(gpiomon, 0o755);
  const driver = createGpio(gpiodGpio.parse({ type: 'gpiod', gpioset, gpiomon }), { logger });
  await driver.start(signal);
  const gate = driver.output('gate', { line: 22, active_low: false });
  await gate.start(signal);
  const idle = monitorEventLoopDelay({ resolution: 1 });
  idle.enable();
  for (let i = 0; i < 60; i += 1) await sleep(40);
  idle.disable();
  const switchMs: number[] = [];
  const writeCallMs: number[] = [];
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  for (let i = 0; i < 60; i += 1) {
    const t0 = performance.now();
    gate.write(i % 2 === 0);
    writeCallMs.push(performance.now() - t0);
    await sleep(40);
    const last = (gate as unknown as { lastSwitchMs: number | null }).lastSwitchMs;
    if (last !== null && i >= 10) switchMs.push(last);
  }
  delay.disable();
  await driver.stop();
  console.log(`gpiod output: write() call                 ${stats(writeCallMs)}`);
  console.log(
    `gpiod output: write() -> next holder started ${stats(switchMs)}  (supervisor ends old holder, forks new; fake /bin/sh gpioset)`,
  );
  console.log(
    `gpiod output: event-loop delay while toggling max=${(delay.max / 1e6).toFixed(2)} ms p99=${(delay.percentile(99) / 1e6).toFixed(2)} ms`,
  );
  console.log(
    `baseline (same loop, no writes): event-loop delay max=${(idle.max / 1e6).toFixed(2)} ms p99=${(idle.percentile(99) / 1e6).toFixed(2)} ms`,
  );
}

/** How long child_process.spawn() blocks the event loop as the daemon's memory grows (fork copies page tables). */
async function spawnBlocking(): Promise<void> {
  const keep: Buffer[] = [];
  for (const extraMb of [0, 400]) {
    if (extraMb > 0) keep.push(Buffer.alloc(extraMb * 1024 * 1024, 1));
    const blockedMs: number[] = [];
    for (let i = 0; i < 20; i += 1) {
      const t0 = performance.now();
      const child = spawn('/bin/true', [], { stdio: 'ignore' });
      blockedMs.push(performance.now() - t0);
      await new Promise((resolve) => child.once('exit', resolve));
    }
    console.log(
      `spawn() blocks the event loop at RSS ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB: ${stats(blockedMs)}`,
    );
  }
  keep.length = 0;
}

async function rawSpawn(): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < 30; i += 1) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const child = spawn('/usr/bin/gpioset', ['--version'], { stdio: 'ignore' });
      child.once('exit', () => resolve());
    });
    times.push(performance.now() - t0);
  }
  console.log(`real /usr/bin/gpioset --version spawn->exit ${stats(times.slice(5))}`);
}

async function gpiomonPipe(dir: string): Promise<void> {
  const gpiomon = join(dir, 'gpiomon-events');
  writeFileSync(
    gpiomon,
    `#!${process.execPath}
if (process.argv[2] === '--version') { console.log('gpiomon (libgpiod) v1.6.3'); process.exit(0); }
let n = 0;
const t = setInterval(() => {
  const ns = process.hrtime.bigint();
  process.stdout.write('1 17 ' + (ns / 1000000000n) + ' ' + (ns % 1000000000n) + '\\n');
  if (++n === 300) clearInterval(t);
}, 5);
setInterval(() => {}, 1 << 30);
`,
  );
  chmodSync(gpiomon, 0o755);
  const driver = createGpio(gpiodGpio.parse({ type: 'gpiod', gpiomon, gpioset: '/usr/bin/gpioset' }), { logger });
  await driver.start(signal);
  const eye = driver.input('trigger', { line: 17, active_low: false, edge: 'rising', debounce_ms: 0 });
  const lat: number[] = [];
  eye.onEdge((e: EdgeEvent) => lat.push(performance.now() - e.timeMs));
  await eye.start(signal);
  while (lat.length < 300) await sleep(50);
  await driver.stop();
  console.log(`gpiod input: kernel-stamped edge -> listener (pipe+parse, fake gpiomon) ${stats(lat.slice(20))}`);
}

async function simEncoder(): Promise<void> {
  const driver = createGpio(
    simGpio.parse({ type: 'sim', encoder_hz: 10_000, autostart: true, part_interval_ms: 100 }),
    { logger },
  );
  if (!isSimGpio(driver)) throw new Error('sim');
  const encoder = driver.input('encoder', { line: 0, active_low: false, edge: 'rising', debounce_ms: 0 });
  const trigger = driver.input('trigger', { line: 1, active_low: false, edge: 'rising', debounce_ms: 0 });
  const encLate: number[] = [];
  const trigLate: number[] = [];
  encoder.onEdge((e) => encLate.push(performance.now() - e.timeMs));
  trigger.onEdge((e) => trigLate.push(performance.now() - e.timeMs));
  await driver.start(signal);
  await encoder.start(signal);
  await trigger.start(signal);
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(3000);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  await driver.stop();
  console.log(
    `sim encoder 10 kHz: ${driver.encoderPulses} pulses in ${wallMs.toFixed(0)} ms, CPU ${(((cpu.user + cpu.system) / 1000 / wallMs) * 100).toFixed(1)} %, ELU ${(elu.utilization * 100).toFixed(1)} %`,
  );
  console.log(`sim encoder 10 kHz: pulse delivered after its timestamp ${stats(encLate)}`);
  console.log(`sim trigger (real timers): edge delivered after its timestamp ${stats(trigLate)}`);
}

const dir = mkdtempSync(join(tmpdir(), 'lineside-bench-gpio-'));
try {
  await rawSpawn();
  await spawnBlocking();
  await gpiodOutput(dir);
  await gpiomonPipe(dir);
  await simEncoder();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
