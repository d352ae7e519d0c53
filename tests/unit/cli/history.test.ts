import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runHistory } from '../../../src/cli/history.js';
import { runLabel } from '../../../src/cli/label.js';
import { parseTime } from '../../../src/cli/record-open.js';
import { recordSection } from '../../../src/config/sections/record.js';
import { LineRecord } from '../../../src/record/index.js';
import { BUNDLE, memoryLogger } from '../../integration/harness.js';
import { partRecord, REJECT } from '../record/parts.js';
import { captureIo } from './helpers.js';

let dir: string;
let config: string;

/** A whole daemon config (the commands load it as the daemon does), its record in `recordDir`. */
function daemonConfig(recordDir: string): Record<string, unknown> {
  return {
    line_id: 'cli',
    model: { bundle: BUNDLE },
    camera: { type: 'folder', path: dir },
    gpio: { type: 'sim' },
    trigger: { line: 17 },
    gate: { line: 27 },
    mqtt: { url: 'mqtt://127.0.0.1:1', outbox_dir: 'outbox' },
    record: { dir: recordDir },
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ls-cli-history-'));
  const record = new LineRecord({
    config: recordSection.parse({ dir: join(dir, 'var'), min_free_mb: 0 }),
    baseDir: dir,
    logger: memoryLogger().logger,
  });
  await record.start(new AbortController().signal);
  record.part(partRecord(1), undefined);
  record.part(partRecord(2, REJECT), undefined);
  record.part(partRecord(3, { decision: 'reject', failsafeReason: 'overrun', verdict: undefined }), undefined);
  await record.stop();
  config = join(dir, 'line.yaml');
  await writeFile(config, stringify(daemonConfig('var')));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('lineside history', () => {
  it('prints one row per part, oldest first, and a total line', async () => {
    const { io, stdout } = captureIo();
    expect(await runHistory(['--config', config], io)).toBe(0);
    const lines = stdout().trim().split('\n');
    expect(lines.slice(0, -1).map((l) => l.split(' ')[1])).toEqual(['run1-1', 'run1-2', 'run1-3']);
    expect(lines.at(-1)).toBe('total: 3 parts, 2 rejected');
  });

  it('--csv: a header and the rows on stdout (loadable as is), the total on stderr', async () => {
    const { io, stdout, stderr } = captureIo();
    expect(await runHistory(['--config', config, '--decision', 'reject', '--csv'], io)).toBe(0);
    const lines = stdout().trim().split('\n');
    expect(lines[0]).toMatch(/^triggered_at,id,decision,verdict,defect_score,failsafe_reason,/);
    expect(lines.slice(1).map((l) => l.split(',').slice(1, 6))).toEqual([
      ['run1-2', 'reject', 'defective', '0.97', ''],
      ['run1-3', 'reject', '', '0.01', 'overrun'],
    ]);
    expect(stderr()).toBe('total: 2 parts, 2 rejected\n');
  });

  it('--reason, --limit and --json', async () => {
    const { io, stdout } = captureIo();
    expect(await runHistory(['--config', config, '--reason', 'overrun', '--json'], io)).toBe(0);
    expect(JSON.parse(stdout())).toMatchObject({ total: 1, rejects: 1, rows: [{ id: 'run1-3' }] });
    const limited = captureIo();
    expect(await runHistory(['--config', config, '--limit', '1'], limited.io)).toBe(0);
    expect(limited.stdout()).toMatch(/run1-3 .*\ntotal: 3 parts, 2 rejected \(1 shown\)\n$/);
  });

  it('refuses a bad option value with exit 64, naming it', async () => {
    for (const args of [
      ['--reason', 'sunspots'],
      ['--since', 'yesterday-ish'],
      ['--decision', 'maybe'],
    ]) {
      const { io, stderr } = captureIo();
      expect(await runHistory(['--config', config, ...args], io)).toBe(64);
      expect(stderr()).toMatch(new RegExp(args[0]!));
    }
  });

  it('says where it looked when there is no record', async () => {
    const { io, stderr } = captureIo();
    const empty = join(dir, 'empty.yaml');
    await writeFile(empty, stringify(daemonConfig('none')));
    expect(await runHistory(['--config', empty], io)).toBe(1);
    expect(stderr()).toMatch(/LS_RECORD_IO: no line record at .*none\/lineside\.db/);
  });
});

describe('lineside history --hourly', () => {
  it('prints the aggregates of completed hours and their total', async () => {
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 3_600_000;
    const at = (offsetMs: number): string => new Date(hour + offsetMs).toISOString();
    const record = new LineRecord({
      config: recordSection.parse({ dir: join(dir, 'hourly'), min_free_mb: 0 }),
      baseDir: dir,
      logger: memoryLogger().logger,
    });
    await record.start(new AbortController().signal);
    record.part(partRecord(1, { triggeredAt: at(1000), verdictLatencyMs: 10 }), undefined);
    record.part(partRecord(2, { ...REJECT, triggeredAt: at(2000), verdictLatencyMs: 20 }), undefined);
    record.part(partRecord(3, { ...REJECT, triggeredAt: at(3_600_000 + 5), failsafeReason: 'late' }), undefined);
    await record.maintain();
    await record.stop();
    const file = join(dir, 'hourly.yaml');
    await writeFile(file, stringify(daemonConfig('hourly')));
    const { io, stdout } = captureIo();
    expect(await runHistory(['--config', file, '--hourly'], io)).toBe(0);
    const lines = stdout().trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe(`${at(0)} parts=2 rejects=1 yield=50.00% ms p50/p99/max=10.0/20.0/20.0 model=1`);
    expect(lines[1]).toMatch(/ parts=1 rejects=1 yield=0\.00% .* late=1$/);
    expect(lines[2]).toBe('total: 3 parts, 2 rejected in 2 hours');
  });
});

describe('lineside label', () => {
  it('labels a known part and refuses an unknown one with LS_RECORD_UNKNOWN_PART', async () => {
    const ok = captureIo();
    expect(await runLabel(['run1-1', 'defective', '--by', 'anna', '--config', config], ok.io)).toBe(0);
    expect(ok.stdout()).toBe('run1-1 labelled defective by anna (model: ok 0.0100)\n');
    const unknown = captureIo();
    expect(await runLabel(['run1-99', 'ok', '--config', config], unknown.io)).toBe(1);
    expect(unknown.stderr()).toMatch(/^LS_RECORD_UNKNOWN_PART: no part run1-99/);
    const bad = captureIo();
    expect(await runLabel(['run1-1', 'maybe', '--config', config], bad.io)).toBe(64);
  });
});

describe('parseTime', () => {
  it('takes ISO 8601 or an age before now', () => {
    const now = Date.parse('2026-12-03T12:00:00Z');
    expect(parseTime('2026-12-03T08:00:00Z', now)).toBe('2026-12-03T08:00:00.000Z');
    expect(parseTime('90m', now)).toBe('2026-12-03T10:30:00.000Z');
    expect(parseTime('7d', now)).toBe('2026-11-26T12:00:00.000Z');
    expect(parseTime('soon', now)).toBeNull();
  });
});
