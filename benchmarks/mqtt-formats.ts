/**
 * Verdicts/s through the durable outbox to a real mosquitto, JSON and Sparkplug B in one run (alternating rounds,
 * same broker, same settings): a burst of N parts handed to MQTT, timed from the first publishPart to the last
 * acknowledgement (PUBACK); plus the cost of publishPart on the caller's stack and the bytes on the wire per verdict.
 * Run: node --import tsx benchmarks/mqtt-formats.ts [--parts 20000] [--rounds 3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { mqttSection } from '../src/config/sections/mqtt.js';
import { createMqtt } from '../src/io/mqtt/index.js';
import { buildVerdictPayload } from '../src/io/mqtt/payload.js';
import { encodeMetrics, parseStored } from '../src/io/mqtt/sparkplug/codec.js';
import { SparkplugEdge } from '../src/io/mqtt/sparkplug/edge.js';
import { Mosquitto, makeRecord } from '../tests/unit/io/mqtt/helpers.js';

const FORMATS = ['json', 'sparkplug_b'] as const;
type Format = (typeof FORMATS)[number];
const arg = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
};
const PARTS = arg('parts', 20_000);
const ROUNDS = arg('rounds', 3);
const signal = new AbortController().signal;
const logger = pino({ level: 'silent' });
const MODEL = { name: 'casting-cnn', version: '1.0.0', sha256: 'ab'.repeat(32), threshold: 0.042 };

interface Round {
  seconds: number;
  enqueueUs: number[];
  bytes: number;
}

async function until(check: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function round(format: Format, brokerUrl: string, dir: string, n: number): Promise<Round> {
  const config = mqttSection.parse({ url: brokerUrl, format, outbox_dir: join(dir, `${format}-${n}`) });
  const mqtt = createMqtt(config, {
    logger,
    lineId: 'bench',
    baseDir: dir,
    env: {},
    runId: `bench-${n}`,
    station: {
      model: () => ({ ...MODEL, executionProvider: 'cpu', requestedProviders: ['cpu'] }),
      healthy: () => true,
    },
  });
  await mqtt.start(signal);
  // One part first: with Sparkplug the outbox flows only after the births, so the burst starts on a ready session.
  mqtt.publishPart(makeRecord(1, `bench-${n}`));
  await until(() => mqtt.state().sent === 1, 'the first part');
  const bytesBefore = mqtt.state().outboxBytes;
  const enqueueUs: number[] = [];
  const startMs = performance.now();
  for (let seq = 2; seq <= PARTS + 1; seq++) {
    const t0 = performance.now();
    mqtt.publishPart(makeRecord(seq, `bench-${n}`));
    enqueueUs.push((performance.now() - t0) * 1000);
  }
  const outboxBytes = mqtt.state().outboxBytes - bytesBefore;
  await until(() => mqtt.state().sent === PARTS + 1 && mqtt.state().queued === 0, 'every PUBACK');
  const seconds = (performance.now() - startMs) / 1000;
  await mqtt.stop();
  return { seconds, enqueueUs, bytes: outboxBytes / PARTS };
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/** Bytes one verdict takes on the wire in each format (the Sparkplug DDATA as protobuf, with its seq). */
function wireBytes(dir: string): Record<Format, number> {
  const record = makeRecord(7, 'bench');
  const json = JSON.stringify(buildVerdictPayload(record, 'bench', new Date()));
  const edge = new SparkplugEdge({
    config: mqttSection.parse({ format: 'sparkplug_b' }).sparkplug,
    lineId: 'bench',
    runId: 'bench',
    outboxDir: dir,
    facts: { model: () => undefined, healthy: () => true },
    logger,
  });
  edge.partMessage(makeRecord(6, 'bench')); // model and health are reported once, then by exception
  const stored = parseStored(edge.partMessage(record).payload);
  const spb = encodeMetrics(stored?.metrics ?? [], { seq: 7, nowMs: Date.now() });
  return { json: Buffer.byteLength(json), sparkplug_b: spb.length };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lineside-bench-mqtt-'));
  const broker = await Mosquitto.create(dir);
  await broker.start();
  const results = new Map<Format, Round[]>(FORMATS.map((f) => [f, []]));
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const format of r % 2 === 0 ? FORMATS : [...FORMATS].reverse()) {
        const result = await round(format, broker.url, dir, r);
        results.get(format)?.push(result);
        console.log(`round ${r + 1} ${format}: ${PARTS} verdicts in ${result.seconds.toFixed(2)} s`);
      }
    }
  } finally {
    await broker.kill();
  }
  console.log(`\n${PARTS} verdicts per round, ${ROUNDS} rounds, mosquitto MQTT 5, QoS 1, window 16, fsync on`);
  const wire = wireBytes(dir);
  const header =
    '| format | verdicts/s (median round) | burst s (median) | publishPart p50 / p99 µs | outbox bytes/verdict |';
  console.log(`${header} wire bytes/verdict |`);
  console.log('|---|---|---|---|---|---|');
  for (const [format, rounds] of results) {
    const seconds = quantile(
      rounds.map((x) => x.seconds),
      0.5,
    );
    const us = rounds.flatMap((x) => x.enqueueUs);
    const bytes = quantile(
      rounds.map((x) => x.bytes),
      0.5,
    );
    const row = [
      format,
      Math.round(PARTS / seconds),
      seconds.toFixed(2),
      `${quantile(us, 0.5).toFixed(0)} / ${quantile(us, 0.99).toFixed(0)}`,
      Math.round(bytes),
      wire[format],
    ];
    console.log(`| ${row.join(' | ')} |`);
  }
  rmSync(dir, { recursive: true, force: true });
}

await main();
