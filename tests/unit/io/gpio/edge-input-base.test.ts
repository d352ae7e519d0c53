import { describe, expect, it } from 'vitest';
import type { EdgeEvent } from '../../../../src/domain/ports.js';
import { EdgeInputBase } from '../../../../src/io/gpio/line-core.js';
import { captureLogger } from './helpers.js';

/** A driver input whose open/close the test controls: only the driver-specific part, as in sim, onoff and gpiod. */
class TestInput extends EdgeInputBase {
  opens = 0;
  closes = 0;
  startedDuringOpen: boolean[] = [];
  failNextOpen: Error | null = null;
  release: (() => void) | null = null;

  protected async open(): Promise<void> {
    this.opens += 1;
    if (this.failNextOpen) {
      const err = this.failNextOpen;
      this.failNextOpen = null;
      throw err;
    }
    await new Promise<void>((resolve) => {
      this.release = resolve;
    });
    this.startedDuringOpen.push(this.started);
  }

  protected close(): Promise<void> {
    this.closes += 1;
    return Promise.resolve();
  }
}

function input(debounceMs = 0): TestInput {
  return new TestInput({
    name: 'trigger',
    line: { line: 17, active_low: false, debounce_ms: debounceMs },
    logger: captureLogger().logger,
  });
}

async function started(i: TestInput): Promise<TestInput> {
  const done = i.start(new AbortController().signal);
  i.release?.();
  await done;
  return i;
}

describe('EdgeInputBase', () => {
  it('delivers debounced edges to every listener until it unsubscribes, and reads the level of the last edge', async () => {
    const i = await started(input(10));
    const a: EdgeEvent[] = [];
    const b: EdgeEvent[] = [];
    const offA = i.onEdge((e) => a.push(e));
    i.onEdge((e) => b.push(e));
    expect(i.edges.push('rising', 100)).toBe(true);
    expect(i.edges.push('falling', 105)).toBe(false); // within debounce_ms
    expect(i.read()).toBe(false); // the level follows every edge seen, delivered or not
    offA();
    expect(i.edges.push('rising', 120)).toBe(true);
    expect(a).toEqual([{ edge: 'rising', timeMs: 100 }]);
    expect(b).toEqual([
      { edge: 'rising', timeMs: 100 },
      { edge: 'rising', timeMs: 120 },
    ]);
    expect(i.name).toBe('trigger');
  });

  it('opens once however often it is started, closes once however often it is stopped', async () => {
    const i = await started(input());
    await i.start(new AbortController().signal);
    expect(i.opens).toBe(1);
    await i.stop();
    await i.stop();
    expect(i.closes).toBe(1);
    expect(i.started).toBe(false);
  });

  it('a restarted input starts with a fresh debounce', async () => {
    const i = await started(input(1000));
    expect(i.edges.push('rising', 100)).toBe(true);
    await i.stop();
    await started(i);
    expect(i.edges.push('rising', 200)).toBe(true);
  });

  it('a failed open rejects start, undoes itself through close and leaves the input stopped and startable', async () => {
    const i = input();
    i.failNextOpen = new Error('line busy');
    await expect(i.start(new AbortController().signal)).rejects.toThrow('line busy');
    expect(i.started).toBe(false);
    expect(i.closes).toBe(1);
    await started(i);
    expect(i.started).toBe(true);
    expect(i.opens).toBe(2);
  });

  it('is started while open runs, so a stop arriving meanwhile is seen by the driver when open resumes', async () => {
    const i = input();
    const starting = i.start(new AbortController().signal);
    expect(i.started).toBe(true);
    await i.stop();
    i.release?.();
    await starting;
    expect(i.startedDuringOpen).toEqual([false]);
    expect(i.closes).toBe(1);
  });
});
