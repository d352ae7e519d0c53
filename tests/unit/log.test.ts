import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { waitFor } from '../wait.js';

function sink(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, lines };
}

describe('logger', () => {
  it('writes plain JSON lines outside systemd', () => {
    const { stream, lines } = sink();
    const logger = createLogger({ level: 'info', destination: stream }, {});
    logger.child({ component: 'camera' }).info({ part: 3 }, 'hello');
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({ level: 30, component: 'camera', part: 3, msg: 'hello' });
  });

  it('prefixes each line with its syslog priority under systemd, so journalctl -p filters', () => {
    const { stream, lines } = sink();
    const logger = createLogger({ level: 'debug', destination: stream }, { JOURNAL_STREAM: '8:1234' });
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    logger.fatal('f');
    expect(lines.map((l) => l.slice(0, 3))).toEqual(['<7>', '<6>', '<4>', '<3>', '<2>']);
    expect(JSON.parse(lines[2]!.slice(3))).toMatchObject({ msg: 'w', level: 40 });
  });

  it('never writes a password, wherever it sits in the object', () => {
    const { stream, lines } = sink();
    const logger = createLogger({ level: 'info', destination: stream }, {});
    logger.info({ password: 'hunter2', mqtt: { password: 'hunter3' } }, 'connecting');
    expect(lines.join('\n')).not.toMatch(/hunter/);
  });
});

const SCRIPT = path.join(import.meta.dirname, 'crashing-logger.ts');
const ROOT = path.resolve(import.meta.dirname, '../..');

interface Crash {
  code: number | null;
  /** The JSON lines on stdout, in order. */
  lines: string[];
  stdout: string;
}

function crashed(code: number | null, stdout: string, stderr: string): Crash {
  expect(stderr.replace('crashing\n', ''), `stdout ends: ${stdout.slice(-2000)}`).toBe('');
  return { code, lines: stdout.split('\n').filter((l) => l.startsWith('{')), stdout };
}

/** Runs tests/unit/crashing-logger.ts with stdout read as it comes. */
async function crash(mode: 'burst', env: NodeJS.ProcessEnv = {}): Promise<Crash> {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, mode], {
    cwd: ROOT,
    env: { ...process.env, ...env },
  });
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  return crashed(code, Buffer.concat(chunks).toString(), stderr);
}

/**
 * Runs it in full-pipe mode with stdout a FIFO that nobody reads (a node stream would read ahead and make room)
 * until the child says on stderr that it is crashing, and for holdMs more; then it is read, as journald catches up.
 */
async function crashIntoFullPipe(holdMs: number): Promise<Crash> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ls-crash-'));
  const fifo = path.join(dir, 'stdout');
  execFileSync('mkfifo', [fifo]);
  const readEnd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writeEnd = openSync(fifo, constants.O_WRONLY);
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, 'full-pipe'], {
    cwd: ROOT,
    stdio: ['ignore', writeEnd, 'pipe'],
  });
  closeSync(writeEnd);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  await waitFor(() => stderr.includes('crashing'), 30_000, 'the child to crash');
  await new Promise((resolve) => setTimeout(resolve, holdMs));
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    let n: number;
    try {
      n = readSync(readEnd, buf);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      await new Promise((resolve) => setTimeout(resolve, 10));
      continue;
    }
    if (n === 0) break; // the child has exited: no writer left
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  closeSync(readEnd);
  rmSync(dir, { recursive: true, force: true });
  return crashed(await exited, Buffer.concat(chunks).toString(), stderr);
}

describe('a crash keeps its last words (issue 13, item 5)', () => {
  it('after a burst of log lines, every line is on stdout, in order, and the crash record last', async () => {
    const { code, lines } = await crash('burst');
    expect(code).toBe(70);
    const records = lines.map((l) => JSON.parse(l) as { msg: string; i?: number; code?: string; level: number });
    const burst = records.filter((r) => r.msg === 'burst').map((r) => r.i!);
    expect(burst.sort((a, b) => a - b)).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    // In order, but for the burst's first line, whose write was already in libuv's thread pool and lands on its own.
    const ordered = records.filter((r) => r.i !== 0);
    expect(ordered.at(-1)).toMatchObject({ level: 60, code: 'LS_INTERNAL', msg: 'uncaughtException: boom' });
    expect(ordered.at(-2)).toMatchObject({ msg: 'last words' });
    expect(ordered.slice(0, -2).map((r) => r.i)).toEqual(Array.from({ length: 4999 }, (_, i) => i + 1));
  });

  it('with stdout a full pipe (journald behind), the crash record waits for room instead of being lost', async () => {
    // Held long enough that the crash path meets the full pipe; read from then on, as journald would catch up.
    const { code, lines } = await crashIntoFullPipe(300);
    expect(code).toBe(70);
    const records = lines.map((l) => JSON.parse(l) as { msg: string; code?: string; level: number });
    // 'in flight' met the full pipe in the thread pool: it lands later, or never.
    const ordered = records.filter((r) => r.msg !== 'in flight');
    expect(ordered.at(-1)).toMatchObject({ level: 60, code: 'LS_INTERNAL', msg: 'uncaughtException: boom' });
    expect(ordered.at(-2)).toMatchObject({ msg: 'last words' });
  });

  it('under journald, the crash record carries the priority of a fatal line (crit), like every logged line', async () => {
    const { code, stdout } = await crash('burst', { JOURNAL_STREAM: '8:1234' });
    expect(code).toBe(70);
    expect(stdout).toMatch(/\n<2>\{"level":60,[^\n]*"code":"LS_INTERNAL"[^\n]*\}\n/);
  });
});

describe('log format', () => {
  it('pretty on a terminal, JSON under systemd or in a pipe, --log-format wins', async () => {
    const { logFormat } = await import('../../src/log.js');
    expect(logFormat(undefined, true, {})).toBe('pretty');
    expect(logFormat(undefined, true, { JOURNAL_STREAM: '8:1234' })).toBe('json');
    expect(logFormat(undefined, false, {})).toBe('json');
    expect(logFormat('json', true, {})).toBe('json');
    expect(logFormat('pretty', false, { JOURNAL_STREAM: '8:1234' })).toBe('pretty');
  });

  it('pretty lines carry the time, the level word, the component and the message', async () => {
    const { createLogger } = await import('../../src/log.js');
    const { PassThrough } = await import('node:stream');
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString()));
    const logger = createLogger({ level: 'info', destination: out, format: 'pretty' }, { NO_COLOR: '1' });
    logger.child({ component: 'camera' }).warn({ code: 'LS_CAMERA_TIMEOUT' }, 'no image');
    await new Promise((resolve) => setImmediate(resolve));
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: \[camera\] no image .*LS_CAMERA_TIMEOUT/);
  });
});
