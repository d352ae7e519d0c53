/**
 * Storage benchmark (issue #10): the segment-file outbox of lineside 0.1 (benchmarks/legacy/) against the SQLite
 * outbox in the line record, in one run, on this machine's disk.
 *
 *   node --import tsx benchmarks/storage.ts [--seconds 10] [--backlog 100000] [--dir /var/tmp]
 *
 * For each outbox, in a child process of its own (so heaps and page caches of one do not bias the other):
 * - stall: event-loop delay (perf_hooks.monitorEventLoopDelay, 1 ms resolution) at a steady 200 parts/s, each part
 *   enqueued, taken and acknowledged 2 ms later (a healthy broker); the same load with no outbox at all is the
 *   baseline, and "added" is the difference.
 * - writes/s: messages made durable per second in a burst with acks (broker up) and without (outage). The old outbox
 *   is durable only once its batch is written (flush() awaited); the SQLite one when enqueue returns.
 * - RSS: resident memory before and after a backlog of `--backlog` verdict-sized messages (no acks), after a GC.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createHistogram, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Outbox as SegmentOutbox } from './legacy/outbox.js';
import { Outbox } from '../src/io/mqtt/outbox.js';
import { outboxMigrations } from '../src/io/mqtt/outbox-store.js';
import { LineRecord } from '../src/record/index.js';
import { recordSection } from '../src/config/sections/record.js';

type Kind = 'none' | 'segments' | 'sqlite';

interface OutboxLike {
  enqueue(message: { topic: string; payload: string; retain: boolean }): unknown;
  takeNext(): { n: number } | undefined;
  ack(n: number): void;
  flush(): Promise<void>;
  stop(): Promise<void>;
}

interface Result {
  kind: Kind;
  stallP99Ms: number;
  stallP999Ms: number;
  stallMaxMs: number;
  /** Synchronous cost of enqueue (the INSERT for SQLite), per part. */
  enqueueP99Us: number;
  enqueueP999Us: number;
  /** Event-loop busy time per part (event-loop utilisation over the run / parts), all work of the part included. */
  busyPerPartUs: number;
  ackedWritesPerS: number;
  outageWritesPerS: number;
  rssBeforeMb: number;
  rssAfterMb: number;
}

const signal = new AbortController().signal;
const logger = pino({ level: 'warn' });
const arg = (name: string, fallback: string): string => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : (process.argv[at + 1] ?? fallback);
};
const seconds = Number(arg('seconds', '10'));
const backlog = Number(arg('backlog', '100000'));
const baseDir = arg('dir', '/var/tmp');

/** About the size of a real verdict payload (docs/mqtt.md): ~700 bytes of JSON. */
function message(seq: number): { topic: string; payload: string; retain: boolean } {
  const payload = JSON.stringify({ schema: 1, id: `20261123T130512-7f3a9c01-${seq}`, seq, pad: 'x'.repeat(620) });
  return { topic: 'lineside/line1/verdict', payload, retain: false };
}

async function open(kind: Kind, dir: string): Promise<{ outbox: OutboxLike; close: () => Promise<void> }> {
  const maxBytes = 256 * 1024 * 1024;
  if (kind === 'segments') {
    const outbox = new SegmentOutbox({ dir: join(dir, 'outbox'), maxBytes, fsync: true, logger });
    await outbox.start(signal);
    return { outbox, close: () => outbox.stop() };
  }
  if (kind === 'sqlite') {
    const config = recordSection.parse({ dir, sync_interval_ms: 1000 });
    const record = new LineRecord({ config, baseDir: dir, logger, migrations: [outboxMigrations] });
    await record.start(signal);
    const outbox = new Outbox({ database: record.database, maxBytes, logger });
    await outbox.start(signal);
    const close = async (): Promise<void> => {
      await outbox.stop();
      // Checkpointer.stop() waits on an unref'd thread and an unref'd timer: with nothing else alive, Node would
      // exit mid-await (code 13). The daemon has other handles; a benchmark keeps one itself.
      const keepAlive = setInterval(() => undefined, 1000);
      await record.stop();
      clearInterval(keepAlive);
    };
    return { outbox, close };
  }
  let n = 0;
  const none: OutboxLike = {
    enqueue: () => undefined,
    takeNext: () => ({ n: ++n }),
    ack: () => undefined,
    flush: () => Promise.resolve(),
    stop: () => Promise.resolve(),
  };
  return { outbox: none, close: () => Promise.resolve() };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type Stalls = Pick<
  Result,
  'stallP99Ms' | 'stallP999Ms' | 'stallMaxMs' | 'enqueueP99Us' | 'enqueueP999Us' | 'busyPerPartUs'
>;

async function stall(outbox: OutboxLike): Promise<Stalls> {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const enqueueNs = createHistogram();
  let seq = 0;
  let measuring = false;
  const timer = setInterval(() => {
    const next = message(++seq);
    const started = process.hrtime.bigint();
    outbox.enqueue(next);
    if (measuring) enqueueNs.record(Math.max(1, Number(process.hrtime.bigint() - started)));
    const entry = outbox.takeNext();
    if (entry) setTimeout(() => outbox.ack(entry.n), 2);
  }, 5);
  await sleep(500); // warm-up
  loop.enable();
  measuring = true;
  const firstSeq = seq;
  const elu = performance.eventLoopUtilization();
  await sleep(seconds * 1000);
  const busy = performance.eventLoopUtilization(elu);
  loop.disable();
  measuring = false;
  clearInterval(timer);
  await sleep(50);
  const ms = (ns: number): number => ns / 1e6;
  return {
    stallP99Ms: ms(loop.percentile(99)),
    stallP999Ms: ms(loop.percentile(99.9)),
    stallMaxMs: ms(loop.max),
    enqueueP99Us: enqueueNs.percentile(99) / 1000,
    enqueueP999Us: enqueueNs.percentile(99.9) / 1000,
    busyPerPartUs: (busy.active * 1000) / (seq - firstSeq),
  };
}

/** Enqueue, take and ack as fast as possible for 2 s; durable means written (flush awaited at the end). */
async function ackedWrites(outbox: OutboxLike): Promise<number> {
  const started = performance.now();
  let count = 0;
  while (performance.now() - started < 2000) {
    for (let i = 0; i < 100; i++) {
      outbox.enqueue(message(count++));
      const entry = outbox.takeNext();
      if (entry) outbox.ack(entry.n);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  await outbox.flush();
  return count / ((performance.now() - started) / 1000);
}

async function outageWrites(outbox: OutboxLike, count: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    outbox.enqueue(message(i));
    if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve));
  }
  await outbox.flush();
  return count / ((performance.now() - started) / 1000);
}

function rssMb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss / 2 ** 20;
}

async function child(kind: Kind): Promise<Result> {
  const dir = mkdtempSync(join(baseDir, `lineside-bench-${kind}-`));
  try {
    let opened = await open(kind, dir);
    const stalls = await stall(opened.outbox);
    const ackedWritesPerS = await ackedWrites(opened.outbox);
    await opened.close();
    rmSync(dir, { recursive: true, force: true });
    opened = await open(kind, dir);
    await sleep(200);
    const rssBeforeMb = rssMb();
    const outageWritesPerS = await outageWrites(opened.outbox, backlog);
    const rssAfterMb = rssMb();
    await opened.close();
    return { kind, ...stalls, ackedWritesPerS, outageWritesPerS, rssBeforeMb, rssAfterMb };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runChild(kind: Kind): Promise<Result> {
  const self = fileURLToPath(import.meta.url);
  const proc = fork(self, ['--child', kind, ...process.argv.slice(2)], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    proc.on('message', (result: Result) => resolve(result));
    proc.on('exit', (code) => code !== 0 && reject(new Error(`${kind} benchmark exited ${code}`)));
  });
}

function table(results: Result[]): void {
  const base = results.find((r) => r.kind === 'none');
  const fixed = (v: number, d = 2): string => v.toFixed(d);
  console.log(`storage benchmark: ${seconds} s at 200 parts/s, backlog ${backlog} messages of ~700 B, in ${baseDir}`);
  console.log(
    '| outbox | loop delay p99 / p99.9 / max (ms) | added p99 / p99.9 (ms) | enqueue p99 / p99.9 (µs) | loop busy per part (µs) | writes/s, acked | writes/s, outage | RSS before → after backlog (MB) |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const added = base ? `${fixed(r.stallP99Ms - base.stallP99Ms)} / ${fixed(r.stallP999Ms - base.stallP999Ms)}` : '-';
    const writes = r.kind === 'none' ? ['-', '-'] : [fixed(r.ackedWritesPerS, 0), fixed(r.outageWritesPerS, 0)];
    const rss = r.kind === 'none' ? '-' : `${fixed(r.rssBeforeMb, 0)} → ${fixed(r.rssAfterMb, 0)}`;
    const stalls = `${fixed(r.stallP99Ms)} / ${fixed(r.stallP999Ms)} / ${fixed(r.stallMaxMs)}`;
    const enqueue = `${fixed(r.enqueueP99Us, 0)} / ${fixed(r.enqueueP999Us, 0)}`;
    const cells = [r.kind, stalls, added, enqueue, fixed(r.busyPerPartUs, 0), writes[0], writes[1], rss];
    console.log(`| ${cells.join(' | ')} |`);
  }
}

const childKind = process.argv.includes('--child') ? (arg('child', 'none') as Kind) : undefined;
if (childKind) {
  const result = await child(childKind);
  process.send?.(result, () => process.exit(0));
} else {
  const results: Result[] = [];
  for (const kind of ['none', 'segments', 'sqlite'] as const) results.push(await runChild(kind));
  table(results);
}
