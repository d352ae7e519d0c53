import { spawn } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';

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

/** Runs tests/unit/crashing-logger.ts; its stdout is read only once it says (on stderr) that it is crashing. */
async function crash(mode: 'burst' | 'full-pipe', holdStdoutMs = 0, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; lines: string[]; stdout: string }> {
  const root = path.resolve(import.meta.dirname, '../..');
  const script = path.join(import.meta.dirname, 'crashing-logger.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', script, mode], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  let stderr = '';
  const read = (): void => void child.stdout.on('data', (c: Buffer) => chunks.push(c));
  if (holdStdoutMs === 0) read();
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    if (holdStdoutMs > 0 && stderr.includes('crashing')) setTimeout(read, holdStdoutMs);
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  const stdout = Buffer.concat(chunks).toString();
  expect(stderr.replace('crashing\n', ''), `stdout ends: ${stdout.slice(-2000)}`).toBe('');
  return { code, lines: stdout.split('\n').filter((l) => l.startsWith('{')), stdout };
}

describe('a crash keeps its last words (issue 13, item 5)', () => {
  it('after a burst of log lines, every line is on stdout, in order, and the crash record last', async () => {
    const { code, lines } = await crash('burst');
    expect(code).toBe(70);
    const records = lines.map((l) => JSON.parse(l) as { msg: string; i?: number; code?: string; level: number });
    expect(records.filter((r) => r.msg === 'burst').map((r) => r.i).sort((a, b) => a! - b!)).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    // In order, but for the burst's first line, whose write was already in libuv's thread pool and lands on its own.
    const ordered = records.filter((r) => r.i !== 0);
    expect(ordered.at(-1)).toMatchObject({ level: 60, code: 'LS_INTERNAL', msg: 'uncaughtException: boom' });
    expect(ordered.at(-2)).toMatchObject({ msg: 'last words' });
    expect(ordered.slice(0, -2).map((r) => r.i)).toEqual(Array.from({ length: 4999 }, (_, i) => i + 1));
  });

  it('with stdout a full pipe (journald behind), the crash record waits for room instead of being lost', async () => {
    // Held long enough that the crash path meets the full pipe; read from then on, as journald would catch up.
    const { code, lines } = await crash('full-pipe', 300);
    expect(code).toBe(70);
    const records = lines.map((l) => JSON.parse(l) as { msg: string; code?: string; level: number });
    // 'in flight' met the full pipe in the thread pool: it lands later, or never.
    const ordered = records.filter((r) => r.msg !== 'in flight');
    expect(ordered.at(-1)).toMatchObject({ level: 60, code: 'LS_INTERNAL', msg: 'uncaughtException: boom' });
    expect(ordered.at(-2)).toMatchObject({ msg: 'last words' });
  });

  it('under journald, the crash record carries the priority of a fatal line (crit), like every logged line', async () => {
    const { code, stdout } = await crash('burst', 0, { JOURNAL_STREAM: '8:1234' });
    expect(code).toBe(70);
    expect(stdout).toMatch(/\n<2>\{"level":60,[^\n]*"code":"LS_INTERNAL"[^\n]*\}\n/);
  });
});
