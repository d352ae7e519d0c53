import { describe, expect, it } from 'vitest';
import { StageRunner, stageGroup, type Stage } from '../../../src/app/stages.js';
import { LinesideError } from '../../../src/errors.js';
import { captureLogger } from '../io/gpio/helpers.js';

/** Stages that write what happens to them into one journal, in order. */
function journal(): { events: string[]; stage: (name: string, over?: Partial<Stage>) => Stage } {
  const events: string[] = [];
  return {
    events,
    stage: (name, over = {}) => ({
      name,
      start: async () => {
        events.push(`start ${name}`);
        await Promise.resolve();
      },
      stop: async () => {
        events.push(`stop ${name}`);
        await Promise.resolve();
      },
      ...over,
    }),
  };
}

const never = new AbortController().signal;

describe('StageRunner', () => {
  it('starts the stages in order and stops them in reverse, each once', async () => {
    const { events, stage } = journal();
    const runner = new StageRunner([stage('a'), stage('b'), stage('c')], captureLogger());
    await runner.start(never);
    expect(runner.running).toEqual(['a', 'b', 'c']);
    await Promise.all([runner.stop(), runner.stop()]);
    await runner.stop();
    expect(events).toEqual(['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
    expect(runner.running).toEqual([]);
  });

  it('rolls back a partial start: the stages already started stop in reverse, and the error keeps its code', async () => {
    const { events, stage } = journal();
    const busy = new LinesideError('LS_GPIO_UNAVAILABLE', 'line 17 busy');
    const log = captureLogger();
    const runner = new StageRunner(
      [stage('a'), stage('b'), stage('c', { start: () => Promise.reject(busy) }), stage('d')],
      log,
    );
    await expect(runner.start(never)).rejects.toBe(busy);
    // The failing stage cleaned up after itself; the one after it never started.
    expect(events).toEqual(['start a', 'start b', 'stop b', 'stop a']);
    expect(runner.running).toEqual([]);
    expect(log.lines.find((l) => l.stage === 'c')).toMatchObject({ code: 'LS_GPIO_UNAVAILABLE', stopping: ['b', 'a'] });
    // A later stop (run.ts always calls it) has nothing left to do.
    await runner.stop();
    expect(events).toHaveLength(4);
  });

  it('logs a stop that throws, with its code, and still stops the others', async () => {
    const { events, stage } = journal();
    const log = captureLogger();
    const stuck = stage('b', { stop: () => Promise.reject(new LinesideError('LS_GPIO_WRITE', 'gate did not switch')) });
    const runner = new StageRunner([stage('a'), stuck, stage('c')], log);
    await runner.start(never);
    await expect(runner.stop()).resolves.toBeUndefined();
    expect(events).toEqual(['start a', 'start b', 'start c', 'stop c', 'stop a']);
    expect(log.errors()).toEqual([
      expect.objectContaining({ stage: 'b', code: 'LS_GPIO_WRITE', msg: 'error while stopping b' }),
    ]);
  });

  it('a stop that throws during a rollback does not hide the start error', async () => {
    const { events, stage } = journal();
    const log = captureLogger();
    const busy = new LinesideError('LS_CAMERA_NOT_FOUND', 'no camera');
    const failingStop = stage('b', { stop: () => Promise.reject(new Error('boom')) });
    const runner = new StageRunner([stage('a'), failingStop, stage('c', { start: () => Promise.reject(busy) })], log);
    await expect(runner.start(never)).rejects.toBe(busy);
    expect(events).toEqual(['start a', 'start b', 'stop a']);
    expect(log.errors()).toEqual([expect.objectContaining({ stage: 'b', err: 'boom' })]);
  });

  it('honours the abort signal: no further stage starts, the started ones stop, start rejects with the reason', async () => {
    const { events, stage } = journal();
    const controller = new AbortController();
    const reason = new Error('SIGTERM');
    const aborting = stage('b', {
      start: async () => {
        events.push('start b');
        controller.abort(reason);
        await Promise.resolve();
      },
    });
    const log = captureLogger();
    const runner = new StageRunner([stage('a'), aborting, stage('c')], log);
    await expect(runner.start(controller.signal)).rejects.toBe(reason);
    expect(events).toEqual(['start a', 'start b', 'stop b', 'stop a']);
    const aborted = log.lines.find((l) => l.stage === 'c');
    expect(aborted).toMatchObject({ msg: 'start aborted before c; stopping what had started', stopping: ['b', 'a'] });
  });

  it('starts nothing when the signal is already aborted', async () => {
    const { events, stage } = journal();
    const controller = new AbortController();
    controller.abort(new Error('SIGINT'));
    const runner = new StageRunner([stage('a')], captureLogger());
    await expect(runner.start(controller.signal)).rejects.toThrow('SIGINT');
    expect(events).toEqual([]);
  });

  it('stop() during a start lets the stage in progress finish, starts no other, and stops what started', async () => {
    const { events, stage } = journal();
    let release: () => void = () => undefined;
    const slow = stage('b', {
      start: async () => {
        events.push('start b');
        await new Promise<void>((resolve) => (release = resolve));
      },
    });
    const runner = new StageRunner([stage('a'), slow, stage('c')], captureLogger());
    const starting = runner.start(never);
    await expect.poll(() => events).toContain('start b');
    const stopping = runner.stop();
    release();
    await expect(starting).rejects.toThrow(/stopped while starting, before c/);
    await stopping;
    expect(events).toEqual(['start a', 'start b', 'stop b', 'stop a']);
  });
});

describe('stageGroup', () => {
  it('a part that fails stops the parts before it, and the runner rolls back the stages before the group', async () => {
    const { events, stage } = journal();
    const busy = new LinesideError('LS_GPIO_UNAVAILABLE', 'confirm line busy');
    const log = captureLogger();
    const confirm = stage('confirm', { start: () => Promise.reject(busy) });
    const inputs = stageGroup('inputs', () => [stage('trigger'), confirm, stage('bin_full')], log);
    const runner = new StageRunner([stage('outputs'), stage('line'), inputs], log);
    await expect(runner.start(never)).rejects.toBe(busy);
    expect(events).toEqual([
      'start outputs',
      'start line',
      'start trigger',
      'stop trigger',
      'stop line',
      'stop outputs',
    ]);
  });

  it('stops its parts in reverse with the rest', async () => {
    const { events, stage } = journal();
    const log = captureLogger();
    const runner = new StageRunner(
      [stage('gpio'), stageGroup('outputs', () => [stage('gate'), stage('heartbeat')], log)],
      log,
    );
    await runner.start(never);
    await runner.stop();
    expect(events).toEqual(['start gpio', 'start gate', 'start heartbeat', 'stop heartbeat', 'stop gate', 'stop gpio']);
  });
});
