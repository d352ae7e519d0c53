import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { VerdictPayload } from '../../src/io/mqtt/payload.js';
import { GatedProxy, Mosquitto, Observer } from '../unit/io/mqtt/helpers.js';
import { waitFor } from '../wait.js';
import { BUNDLE, ROOMY_TIMING, labelledFolder, lineside, tempDir, type Proc } from './harness.js';

/**
 * The outbox's promises, on the real daemon as a separate process (`lineside run`) and a real mosquitto: a SIGKILL
 * loses no verdict whose part was logged, a full disk does not stop inspection, a corrupt database is replaced, and a
 * broker outage across a restart loses nothing and keeps the order. Each test starts the daemon two or three times:
 * tens of seconds on a loaded machine. The deadlines only bound a hang.
 */
const TEST_TIMEOUT_MS = 240_000;
const LINE = 'durable';
const VERDICTS = `lineside/${LINE}/verdict`;

let dir: { path: string; remove: () => Promise<void> };
let images: string;
let broker: Mosquitto;
/** Between the daemon and mosquitto: opened once the observer is subscribed, so it cannot miss a verdict. */
let relay: GatedProxy;
const running: Proc[] = [];
const observers: Observer[] = [];

beforeAll(async () => {
  dir = await tempDir('durable');
  images = await labelledFolder(dir.path, 4);
  broker = await Mosquitto.create(dir.path);
  relay = new GatedProxy(() => broker.port);
  await relay.start();
});

afterEach(async () => {
  for (const proc of running.splice(0)) proc.kill('SIGKILL');
  for (const observer of observers.splice(0)) await observer.close();
  relay.cut();
  await broker.kill();
});

afterAll(async () => {
  await relay.stop();
  await dir.remove();
});

async function writeConfig(name: string, recordDir: string): Promise<string> {
  const file = path.join(dir.path, `${name}.yaml`);
  const config = {
    line_id: LINE,
    model: { bundle: BUNDLE },
    camera: { type: 'folder', path: images, order: 'sequential', loop: true, timeout_ms: 2000 },
    gpio: { type: 'sim', part_interval_ms: 150, confirm_delay_ms: null },
    trigger: { line: 17 },
    gate: { line: 27, pulse_ms: 30 },
    ...ROOMY_TIMING,
    mqtt: { url: relay.url, reconnect_ms: 200, qos: 1, outbox_dir: path.join(dir.path, `${name}-outbox`) },
    record: { dir: recordDir, sync_interval_ms: 200 },
  };
  await writeFile(file, stringify(config));
  return file;
}

interface LogLine {
  msg?: string;
  code?: string;
  seq?: number;
  part?: string;
}

function logLines(text: string): LogLine[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

/** The parts a run logged (each logged only once its verdict was stored), as `run_id:seq`. */
function loggedParts(text: string): string[] {
  return logLines(text)
    .filter((l) => typeof l.part === 'string' && typeof l.seq === 'number')
    .map((l) => `${(l.part as string).slice(0, -`-${l.seq}`.length)}:${l.seq}`);
}

function start(config: string, onStdout?: (text: string) => void): Proc {
  const proc = lineside(['run', '--config', config], {}, onStdout);
  running.push(proc);
  return proc;
}

async function stop(proc: Proc): Promise<string> {
  proc.kill('SIGTERM');
  expect(await proc.code).toBe(0);
  running.splice(running.indexOf(proc), 1);
  return proc.stdout();
}

/** Starts mosquitto, subscribes an observer (QoS 1), then lets the daemon reach the broker. */
async function brokerUp(): Promise<Observer> {
  await broker.start();
  const observer = await Observer.connect(broker.url, VERDICTS);
  observers.push(observer);
  relay.open = true;
  return observer;
}

/** Each `run_id:seq` once, in the order of first arrival (at least once: duplicates may come). */
function arrived(observer: Observer): string[] {
  const ids = observer.json<VerdictPayload>(VERDICTS).map((v) => `${v.run_id}:${v.seq}`);
  return [...new Set(ids)];
}

function missing(observer: Observer, expected: string[]): string[] {
  const seen = new Set(arrived(observer));
  return expected.filter((id) => !seen.has(id));
}

describe('the outbox of the running daemon', { timeout: TEST_TIMEOUT_MS }, () => {
  it('SIGKILL right after a part is logged: every verdict of the killed run reaches mosquitto after a restart', async () => {
    const config = await writeConfig('kill', path.join(dir.path, 'kill-record'));
    // The broker is down: every verdict waits in the outbox.
    let killedAt = 0;
    const first = start(config, (text) => {
      if (killedAt === 0 && loggedParts(text).length >= 6) {
        killedAt = loggedParts(text).length;
        first.kill('SIGKILL');
      }
    });
    await first.code;
    expect(first.signal()).toBe('SIGKILL');
    running.splice(running.indexOf(first), 1);
    const logged = loggedParts(first.stdout());
    expect(logged.length).toBeGreaterThanOrEqual(6);

    const observer = await brokerUp();
    const second = start(config);
    await waitFor(
      () => expect(missing(observer, logged)).toEqual([]),
      120_000,
      'every logged verdict of the killed run',
    );
    await stop(second);
    // In order, too: the killed run's verdicts came first, by seq.
    const runId = logged[0]!.split(':')[0]!;
    const killedRun = arrived(observer).filter((id) => id.startsWith(`${runId}:`));
    expect(killedRun.slice(0, logged.length)).toEqual(logged);
  });

  it('a broker outage across a restart: everything of both runs arrives, in order', async () => {
    const config = await writeConfig('outage', path.join(dir.path, 'outage-record'));
    const first = start(config);
    await waitFor(() => loggedParts(first.stdout()).length >= 5, 120_000, 'five parts with the broker down');
    const firstLogged = loggedParts(await stop(first));

    const second = start(config);
    await waitFor(() => loggedParts(second.stdout()).length >= 3, 120_000, 'three more parts, broker still down');
    const observer = await brokerUp();
    await waitFor(() => loggedParts(second.stdout()).length >= 6, 120_000, 'parts after the broker is back');
    const secondLogged = loggedParts(second.stdout());
    await waitFor(
      () => expect(missing(observer, [...firstLogged, ...secondLogged])).toEqual([]),
      120_000,
      'every verdict of both runs',
    );
    await stop(second);
    const order = arrived(observer);
    const firstRun = firstLogged[0]!.split(':')[0]!;
    expect(order.filter((id) => id.startsWith(`${firstRun}:`)).slice(0, firstLogged.length)).toEqual(firstLogged);
    // The first run's verdicts all came before the second run's.
    const lastOfFirst = order.indexOf(firstLogged.at(-1)!);
    expect(order.findIndex((id) => !id.startsWith(`${firstRun}:`))).toBeGreaterThan(lastOfFirst);
    const secondRun = order.filter((id) => !id.startsWith(`${firstRun}:`));
    expect(secondRun.slice(0, secondLogged.length)).toEqual(secondLogged);
  });

  it('a corrupt database file: moved aside (LS_RECORD_CORRUPT), a fresh outbox starts, verdicts flow', async () => {
    const recordDir = path.join(dir.path, 'corrupt-record');
    await mkdir(recordDir, { recursive: true });
    await writeFile(path.join(recordDir, 'lineside.db'), 'this is not a SQLite database, '.repeat(200));
    const config = await writeConfig('corrupt', recordDir);
    const observer = await brokerUp();
    const proc = start(config);
    await waitFor(() => arrived(observer).length >= 3, 120_000, 'three verdicts');
    const out = await stop(proc);
    expect(logLines(out).some((l) => l.code === 'LS_RECORD_CORRUPT')).toBe(true);
    expect((await readdir(recordDir)).some((name) => name.startsWith('lineside.db.corrupt-'))).toBe(true);
    expect(missing(observer, loggedParts(out).slice(0, 3))).toEqual([]);
  });

  it('a full disk (ENOSPC on a 2 MB tmpfs): inspection goes on, drops are counted, delivery resumes when space returns', async (ctx) => {
    const mountPoint = path.join(dir.path, 'tmpfs');
    await mkdir(mountPoint, { recursive: true });
    try {
      await promisify(execFile)('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint]);
    } catch (err) {
      ctx.skip(`mount -t tmpfs is not permitted here (run as root, as CI does): ${(err as Error).message}`);
      return;
    }
    try {
      await fullDisk(mountPoint);
    } finally {
      await promisify(execFile)('umount', ['-l', mountPoint]).catch(() => undefined);
    }
  });
});

async function fullDisk(mountPoint: string): Promise<void> {
  const config = await writeConfig('full', path.join(mountPoint, 'record'));
  const proc = start(config);
  await waitFor(() => loggedParts(proc.stdout()).length >= 8, 120_000, 'parts queued with the broker down');
  const filler = path.join(mountPoint, 'filler');
  await fill(filler);
  await waitFor(
    () => logLines(proc.stdout()).some((l) => l.code === 'LS_MQTT_OUTBOX_FULL'),
    120_000,
    'the outbox to drop its oldest unsent rows (LS_MQTT_OUTBOX_FULL)',
  );
  // The first write that found no room dropped the oldest unsent rows (the policy); every part logged after that
  // line waited in memory or was stored in the room made, and must arrive.
  const afterFull = (): string[] => {
    const lines = proc.stdout().split('\n');
    return loggedParts(lines.slice(lines.findIndex((line) => line.includes('"LS_MQTT_OUTBOX_FULL"'))).join('\n'));
  };
  // Inspection goes on while the disk is full.
  await waitFor(() => afterFull().length >= 10, 120_000, 'ten more parts on a full disk');
  await rm(filler);
  const observer = await brokerUp();
  const afterSpace = loggedParts(proc.stdout()).length;
  await waitFor(() => loggedParts(proc.stdout()).length >= afterSpace + 5, 120_000, 'parts after space returns');
  const expected = afterFull();
  expect(expected.length).toBeGreaterThanOrEqual(15);
  await waitFor(
    () => expect(missing(observer, expected)).toEqual([]),
    120_000,
    'the verdicts of the full-disk phase and after it',
  );
  const out = await stop(proc);
  const summary = JSON.parse(out.trim().split('\n').at(-1)!) as { mqtt: { dropped: number; storage_error: unknown } };
  expect(summary.mqtt.dropped).toBeGreaterThan(0);
  expect(summary.mqtt.storage_error).toBeNull();
  expect(existsSync(filler)).toBe(false);
}

/** Writes `file` until the file system has no byte left. */
async function fill(file: string): Promise<void> {
  const handle = await open(file, 'w');
  try {
    for (const size of [64 * 1024, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size, 1);
      try {
        for (;;) await handle.write(chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    await handle.close().catch(() => undefined);
  }
}
