/** One run of the real app (createApp, demo config) on the simulated line at a fixed part rate. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { connectAsync } from 'mqtt';
import { createApp } from '../app.js';
import { loadConfig } from '../config/load.js';
import type { PartRecord } from '../domain/part.js';
import { createLogger } from '../log.js';
import { freePort, writeLineConfig } from './line-config.js';
import { sampleResources, type ResourceSample } from './stats.js';

export interface LineRunOptions {
  partsPerSecond: number;
  parts: number;
  overrides?: Record<string, Record<string, unknown>>;
  /** Milliseconds to wait, after the last part, for its verdict to reach the subscriber. */
  deliveryWaitMs?: number;
}

export interface LineRun {
  partsPerSecond: number;
  parts: number;
  /** Trigger to verdict, ms, of the parts with a model verdict. */
  verdictMs: number[];
  /** Per-stage ms of each part with a verdict. */
  stagesMs: PartRecord['stagesMs'][];
  failsafe: Record<string, number>;
  /** Parts asked for; fewer completed means triggers were dropped. */
  requested: number;
  /** Parts completed whose verdict never reached the subscriber on the embedded broker. */
  lost: number;
  /** app.start() to READY, ms (in this process: imports already loaded). */
  startMs: number;
  executionProvider: string;
  resources: ResourceSample[];
  wallS: number;
  /** CPU time of the whole process (every thread: event loop, inference worker, gate threads, libvips) per part, ms. */
  cpuMsPerPart: number;
}

/** Takes log lines and drops them: the demo's info logging is paid for, its output goes nowhere. */
function nullLog(): Writable {
  return new Writable({ write: (_chunk, _enc, done) => done() });
}

async function subscribe(port: number): Promise<{ seqs: Set<number>; close: () => Promise<void> }> {
  const client = await connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 100 });
  const seqs = new Set<number>();
  client.on('message', (topic, payload) => {
    if (!topic.endsWith('/verdict')) return;
    const seq = (JSON.parse(payload.toString()) as { seq?: unknown }).seq;
    if (typeof seq === 'number') seqs.add(seq);
  });
  await client.subscribeAsync('lineside/#', { qos: 1 });
  return { seqs, close: () => client.endAsync() };
}

async function waitFor(test: () => boolean, deadlineMs: number): Promise<void> {
  const until = performance.now() + deadlineMs;
  while (!test() && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
}

/** Builds the app on a generated demo config, runs `parts` parts, and stops it. */
export async function runLine(options: LineRunOptions): Promise<LineRun> {
  const dir = await mkdtemp(path.join(tmpdir(), 'lineside-bench-'));
  try {
    const port = await freePort();
    const file = await writeLineConfig({ ...options, dir, port });
    const loaded = loadConfig(file);
    const logger = createLogger({ level: loaded.config.log.level, destination: nullLog(), journal: false });
    const app = createApp({ loaded, logger, env: {}, maxParts: options.parts });
    const records: PartRecord[] = [];
    app.onPart((record) => records.push(record));
    const startedAt = performance.now();
    const abort = new AbortController();
    await app.start(abort.signal);
    const startMs = performance.now() - startedAt;
    const subscriber = await subscribe(port);
    const stopSampling = sampleResources(() => records.length);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    // A part the line never counted (a trigger dropped) would keep `done` pending: the deadline ends the run.
    const expectedS = options.parts / options.partsPerSecond + 5;
    await Promise.race([app.done, new Promise((r) => setTimeout(r, (expectedS * 2 + 30) * 1000))]);
    const wallS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuMsPerPart = (cpu.user + cpu.system) / 1000 / Math.max(1, records.length);
    await waitFor(() => subscriber.seqs.size >= records.length, options.deliveryWaitMs ?? 10_000);
    const resources = stopSampling();
    const executionProvider = app.summary().model?.execution_provider ?? 'unknown';
    await app.stop();
    await subscriber.close();
    return summarise(options, records, subscriber.seqs, { startMs, executionProvider, resources, wallS, cpuMsPerPart });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function summarise(
  options: LineRunOptions,
  records: PartRecord[],
  seqs: Set<number>,
  rest: Pick<LineRun, 'startMs' | 'executionProvider' | 'resources' | 'wallS' | 'cpuMsPerPart'>,
): LineRun {
  const failsafe: Record<string, number> = {};
  const verdictMs: number[] = [];
  const stagesMs: PartRecord['stagesMs'][] = [];
  for (const record of records) {
    if (record.failsafeReason !== undefined)
      failsafe[record.failsafeReason] = (failsafe[record.failsafeReason] ?? 0) + 1;
    else if (record.verdictLatencyMs !== undefined) {
      verdictMs.push(record.verdictLatencyMs);
      stagesMs.push(record.stagesMs);
    }
  }
  const lost = records.filter((r) => !seqs.has(r.seq)).length;
  return {
    partsPerSecond: options.partsPerSecond,
    requested: options.parts,
    parts: records.length,
    verdictMs,
    stagesMs,
    failsafe,
    lost,
    ...rest,
  };
}
