import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createGpio, type EdgeEvent, type GpioDriver } from '../../../../src/io/gpio/index.js';
import type { LinesideError } from '../../../../src/errors.js';
import { captureLogger, signal } from './helpers.js';

/**
 * onoff is a native (epoll) module over /sys/class/gpio, which this machine does not have: it is replaced by a
 * fake that keeps what lineside asked of it (the sysfs state) so the tests can check it.
 */
const fake = vi.hoisted(() => {
  type Callback = (err: Error | null | undefined, value: 0 | 1) => void;
  class FakeGpio {
    static accessible = true;
    static instances: FakeGpio[] = [];
    static constructorError: (Error & { code?: string }) | null = null;
    static writeError: Error | null = null;
    readonly args: unknown[];
    value: 0 | 1;
    watchers: Callback[] = [];
    writes: (0 | 1)[] = [];
    unexported = false;
    pendingWrites: (() => void)[] = [];
    holdWrites = false;

    constructor(
      gpio: number,
      direction: string,
      edge?: string,
      options?: { activeLow?: boolean; debounceTimeout?: number },
    ) {
      if (FakeGpio.constructorError) throw FakeGpio.constructorError;
      this.args = [gpio, direction, edge, options];
      // sysfs 'high'/'low' directions set the raw level.
      this.value = direction === 'high' ? 1 : 0;
      FakeGpio.instances.push(this);
    }

    readSync(): 0 | 1 {
      return this.value;
    }

    writeSync(value: 0 | 1): void {
      if (FakeGpio.writeError) throw FakeGpio.writeError;
      this.value = value;
      this.writes.push(value);
    }

    write(value: 0 | 1): Promise<void> {
      return new Promise((resolve, reject) => {
        const finish = (): void => {
          if (FakeGpio.writeError) {
            reject(FakeGpio.writeError);
            return;
          }
          this.value = value;
          this.writes.push(value);
          resolve();
        };
        if (this.holdWrites) this.pendingWrites.push(finish);
        else setImmediate(finish);
      });
    }

    release(): void {
      const pending = this.pendingWrites;
      this.pendingWrites = [];
      this.holdWrites = false;
      for (const finish of pending) finish();
    }

    watch(cb: Callback): void {
      this.watchers.push(cb);
    }

    unwatchAll(): void {
      this.watchers = [];
    }

    unexport(): void {
      this.unexported = true;
    }

    /** The kernel saw an interrupt and onoff read `value` (logical, after sysfs active_low). */
    interrupt(value: 0 | 1, err: Error | null = null): void {
      for (const cb of this.watchers) cb(err, value);
    }
  }
  return { FakeGpio };
});

vi.mock('onoff', () => ({ Gpio: fake.FakeGpio }));

const { FakeGpio } = fake;

function lastGpio(): InstanceType<typeof FakeGpio> {
  const gpio = FakeGpio.instances.at(-1);
  if (!gpio) throw new Error('no gpio opened');
  return gpio;
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

describe('onoff gpio driver (sysfs), with onoff mocked', () => {
  let driver: GpioDriver;
  let log: ReturnType<typeof captureLogger>;
  let errors: LinesideError[];

  beforeEach(() => {
    FakeGpio.accessible = true;
    FakeGpio.instances = [];
    FakeGpio.constructorError = null;
    FakeGpio.writeError = null;
    log = captureLogger();
    driver = createGpio({ type: 'onoff' }, { logger: log.logger });
    errors = [];
    driver.onError?.((err) => errors.push(err));
  });

  afterEach(async () => {
    vi.useRealTimers();
    await driver.stop();
  });

  it('opens an input with its kernel number, direction in, logical edge and sysfs active_low, without onoff debounce', async () => {
    await driver.start(signal);
    const eye = driver.input('trigger', { line: 529, active_low: true, edge: 'rising', debounce_ms: 2 });
    await eye.start(signal);
    expect(lastGpio().args).toEqual([529, 'in', 'rising', { activeLow: true }]);
  });

  it('turns interrupts into logical edges stamped on arrival, with the debounce applied', async () => {
    // The arrival stamp is performance.now(): a fake one lets the test step past the debounce exactly.
    vi.useFakeTimers({ toFake: ['performance'] });
    await driver.start(signal);
    const eye = driver.input('trigger', { line: 17, active_low: false, edge: 'both', debounce_ms: 5 });
    const events: EdgeEvent[] = [];
    eye.onEdge((e) => events.push(e));
    await eye.start(signal);
    const gpio = lastGpio();
    const before = performance.now();
    gpio.interrupt(1);
    gpio.interrupt(0); // contact bounce, same millisecond
    const after = performance.now();
    expect(events).toHaveLength(1);
    expect(events[0]!.edge).toBe('rising');
    expect(events[0]!.timeMs).toBeGreaterThanOrEqual(before);
    expect(events[0]!.timeMs).toBeLessThanOrEqual(after);
    gpio.value = 1;
    expect(eye.read()).toBe(true);
    vi.advanceTimersByTime(4.9);
    gpio.interrupt(0); // still within debounce_ms of the rising edge
    expect(events.map((e) => e.edge)).toEqual(['rising']);
    vi.advanceTimersByTime(5.1);
    gpio.interrupt(0);
    expect(events.map((e) => e.edge)).toEqual(['rising', 'falling']);
    expect(events[1]!.timeMs - events[0]!.timeMs).toBeCloseTo(10, 6);
  });

  it('reports an interrupt error as LS_GPIO_UNAVAILABLE', async () => {
    await driver.start(signal);
    const eye = driver.input('trigger', { line: 17, active_low: false, edge: 'both', debounce_ms: 0 });
    await eye.start(signal);
    lastGpio().interrupt(0, new Error('EIO'));
    expect(errors.map((e) => e.code)).toEqual(['LS_GPIO_UNAVAILABLE']);
    expect(log.errors()).toHaveLength(1);
  });

  it('opens outputs directly in the safe level (raw high/low), inverting active_low itself', async () => {
    await driver.start(signal);
    const gate = driver.output('gate', { line: 22, active_low: false });
    const lamp = driver.output('alarm', { line: 23, active_low: true });
    await gate.start(signal);
    await lamp.start(signal);
    const [gateGpio, lampGpio] = FakeGpio.instances;
    expect(gateGpio!.args).toEqual([22, 'low', 'none', { activeLow: false }]);
    expect(lampGpio!.args).toEqual([23, 'high', 'none', { activeLow: false }]);
    expect(gate.active).toBe(false);
    lamp.write(true);
    gate.write(true);
    await flush();
    expect(gateGpio!.writes).toEqual([1]);
    expect(lampGpio!.writes).toEqual([0]);
  });

  it('keeps writes in order with one in flight, the latest level winning', async () => {
    await driver.start(signal);
    const gate = driver.output('gate', { line: 22, active_low: false });
    await gate.start(signal);
    const gpio = lastGpio();
    gpio.holdWrites = true;
    gate.write(true);
    gate.write(false);
    gate.write(true);
    gate.write(false);
    expect(gpio.pendingWrites).toHaveLength(1);
    gpio.release();
    await flush();
    expect(gpio.writes).toEqual([1, 0]);
    expect(gpio.value).toBe(0);
  });

  it('never blocks: write() returns before the kernel write completes', async () => {
    await driver.start(signal);
    const gate = driver.output('gate', { line: 22, active_low: false });
    await gate.start(signal);
    const gpio = lastGpio();
    gpio.holdWrites = true;
    gate.write(true);
    expect(gpio.writes).toEqual([]);
    gpio.release();
    await flush();
    expect(gpio.writes).toEqual([1]);
  });

  it('forceSafe drives the safe level synchronously while a write is stuck on the pool, honouring active_low', async () => {
    await driver.start(signal);
    const gate = driver.output('gate', { line: 22, active_low: true });
    await gate.start(signal);
    const gpio = lastGpio();
    gpio.holdWrites = true;
    gate.write(true);
    expect(gpio.value).toBe(1); // raw high = inactive (active_low); the active write is held in flight
    gpio.value = 0; // the kernel took it: the gate is rejecting
    gate.forceSafe();
    expect(gpio.value).toBe(1);
    expect(gate.active).toBe(false);
    FakeGpio.writeError = new Error('EIO');
    expect(() => gate.forceSafe()).toThrow(expect.objectContaining({ code: 'LS_GPIO_WRITE' }));
    FakeGpio.writeError = null;
    gpio.release();
  });

  it('reports a failed write as LS_GPIO_WRITE and retries on the next write', async () => {
    await driver.start(signal);
    const gate = driver.output('gate', { line: 22, active_low: false });
    await gate.start(signal);
    FakeGpio.writeError = Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
    gate.write(true);
    await flush();
    expect(errors.map((e) => e.code)).toEqual(['LS_GPIO_WRITE']);
    expect(errors[0]!.message).toContain('EIO');
    FakeGpio.writeError = null;
    gate.write(true);
    await flush();
    expect(lastGpio().writes).toEqual([1]);
  });

  it('throws LS_GPIO_WRITE synchronously when writing an output that is not started', () => {
    const gate = driver.output('gate', { line: 22, active_low: false });
    expect(() => gate.write(true)).toThrow(expect.objectContaining({ code: 'LS_GPIO_WRITE' }));
  });

  it('driver stop leaves every output inactive and unexports every line', async () => {
    await driver.start(signal);
    const gate = driver.output('gate', { line: 22, active_low: false });
    const lamp = driver.output('alarm', { line: 23, active_low: true });
    const eye = driver.input('trigger', { line: 17, active_low: false, edge: 'rising', debounce_ms: 0 });
    await gate.start(signal);
    await lamp.start(signal);
    await eye.start(signal);
    gate.write(true);
    lamp.write(true);
    await driver.stop();
    const [gateGpio, lampGpio, eyeGpio] = FakeGpio.instances;
    expect(gateGpio!.value).toBe(0);
    expect(lampGpio!.value).toBe(1);
    expect(gate.active).toBe(false);
    expect([gateGpio!.unexported, lampGpio!.unexported, eyeGpio!.unexported]).toEqual([true, true, true]);
    expect(eyeGpio!.watchers).toHaveLength(0);
  });

  it('maps an open failure to LS_GPIO_UNAVAILABLE naming the line and a hint', async () => {
    await driver.start(signal);
    FakeGpio.constructorError = Object.assign(new Error('EINVAL: invalid argument, write'), { code: 'EINVAL' });
    const eye = driver.input('trigger', { line: 17, active_low: false, edge: 'rising', debounce_ms: 0 });
    const err = await eye.start(signal).then(
      () => null,
      (e: unknown) => e as LinesideError,
    );
    expect(err?.code).toBe('LS_GPIO_UNAVAILABLE');
    expect(err?.message).toMatch(/"trigger" \(kernel GPIO 17\): EINVAL.*512/);
    FakeGpio.constructorError = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    const gate = driver.output('gate', { line: 22, active_low: false });
    await expect(gate.start(signal)).rejects.toThrow(/gpio group/);
  });

  it('refuses to start when /sys/class/gpio is not usable', async () => {
    FakeGpio.accessible = false;
    await expect(driver.start(signal)).rejects.toMatchObject({
      code: 'LS_GPIO_UNAVAILABLE',
      message: expect.stringMatching(/gpiod/) as unknown,
    });
  });

  it('refuses to open lines before the driver has started (onoff not loaded yet)', async () => {
    const eye = driver.input('trigger', { line: 17, active_low: false, edge: 'rising', debounce_ms: 0 });
    await expect(eye.start(signal)).rejects.toMatchObject({ code: 'LS_GPIO_UNAVAILABLE' });
    expect(FakeGpio.instances).toHaveLength(0);
  });
  it('hands the gate thread its sysfs value file and level texts; from then on its own writes are synchronous', async () => {
    await driver.start(signal);
    const gate = driver.output('gate', { line: 529, active_low: true });
    await gate.start(signal);
    const gpio = lastGpio();
    expect(gate.offThread?.()).toEqual({
      kind: 'file',
      path: '/sys/class/gpio/gpio529/value',
      activeText: '0',
      inactiveText: '1',
    });
    // The thread switched it to active: the driver's own state follows, and the next write is not queued.
    gate.switchedOffThread?.(true, performance.now());
    expect(gate.active).toBe(true);
    gate.write(false);
    expect(gpio.writes.at(-1)).toBe(1);
    FakeGpio.writeError = new Error('EIO');
    expect(() => gate.write(true)).toThrow(expect.objectContaining({ code: 'LS_GPIO_WRITE' }) as Error);
  });
});
