import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GateThread, allowedCpus, gateThreadCount, parseCpuList } from '../../../../src/io/gpio/gate-thread.js';
import type { DigitalOutput, OffThreadSwitch, SwitchResult } from '../../../../src/domain/ports.js';
import { captureLogger, signal } from './helpers.js';

/** An output the thread can switch: a shared wire (like the sim) or a file (like a sysfs value file). */
class WiredOutput implements DigitalOutput {
  readonly name = 'gate';
  readonly wire = new Int32Array(new SharedArrayBuffer(4));
  readonly switched: { active: boolean; timeMs: number }[] = [];

  constructor(private readonly target?: OffThreadSwitch) {}

  get active(): boolean {
    return Atomics.load(this.wire, 0) === 1;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  forceSafe(): void {
    this.write(false);
  }

  write(active: boolean): void {
    Atomics.store(this.wire, 0, active ? 1 : 0);
  }

  offThread(): OffThreadSwitch {
    return this.target ?? { kind: 'shared', wire: this.wire.buffer };
  }

  switchedOffThread(active: boolean, timeMs: number): void {
    this.switched.push({ active, timeMs });
  }
}

/**
 * Blocks this event loop, as a long synchronous task would, until `done` holds (a gate thread can make it hold:
 * it writes shared memory, no message needed). Bounded only against a hang.
 */
function blockLoopUntil(done: () => boolean, timeoutMs = 10_000): void {
  const until = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > until)
      throw new Error(`the event loop stayed blocked ${timeoutMs} ms and nothing switched`);
  }
}

describe('GateThread', () => {
  const threads: GateThread[] = [];
  afterEach(async () => {
    for (const thread of threads.splice(0)) await thread.stop();
  });

  async function started(
    output: DigitalOutput,
    workerUrl?: URL,
    rtPriority = 0,
    threadCount = 1,
    leaveCpus?: number,
  ): Promise<{ thread: GateThread; logs: ReturnType<typeof captureLogger> }> {
    const logs = captureLogger();
    const thread = new GateThread({
      output,
      logger: logs.logger,
      spinMs: 1,
      rtPriority,
      threads: threadCount,
      ...(workerUrl ? { workerUrl } : {}),
      ...(leaveCpus === undefined ? {} : { leaveCpus }),
    });
    threads.push(thread);
    await thread.start(signal);
    return { thread, logs };
  }

  function planned(
    thread: GateThread,
    active: boolean,
    dueMs: number,
  ): { results: (SwitchResult | null)[]; cancel: () => SwitchResult | null; next: Promise<SwitchResult | null> } {
    const results: (SwitchResult | null)[] = [];
    let resolveNext!: (r: SwitchResult | null) => void;
    const next = new Promise<SwitchResult | null>((resolve) => {
      resolveNext = resolve;
    });
    const plan = thread.plan(active, dueMs, (result) => {
      results.push(result);
      resolveNext(result);
    });
    return { results, cancel: () => plan.cancel(), next };
  }

  it('switches the output at the due time, never before, even while the event loop is blocked, then reports it', async () => {
    const output = new WiredOutput();
    const { thread } = await started(output);
    const dueMs = performance.now() + 30;
    const p = planned(thread, true, dueMs);
    // The loop stays busy until the wire is switched: only the thread can have switched it.
    blockLoopUntil(() => output.active);
    const blockEndMs = performance.now();
    const result = await p.next;
    expect(result).not.toBeNull();
    const timeMs = (result as { timeMs: number }).timeMs;
    expect(timeMs).toBeGreaterThanOrEqual(dueMs);
    expect(timeMs).toBeLessThan(blockEndMs);
    expect(output.switched).toEqual([{ active: true, timeMs }]);
    expect(thread.usable).toBe(true);
  });

  it('a plan withdrawn before its time does not switch and is not reported', async () => {
    const output = new WiredOutput();
    const { thread } = await started(output);
    const witness = await started(new WiredOutput());
    const dueMs = performance.now() + 40;
    const p = planned(thread, true, dueMs);
    expect(p.cancel()).toBeNull();
    // Nothing happens at dueMs, so there is nothing to wait for on this thread (a new plan would itself withdraw
    // the old one). A second gate thread, switching its own wire 20 ms later, shows gate threads have run past
    // dueMs; stopping the first one then delivers every message it sent.
    expect(await planned(witness.thread, true, dueMs + 20).next).not.toBeNull();
    await thread.stop();
    expect(output.active).toBe(false);
    expect(p.results).toEqual([]);
  });

  it('withdrawing a plan that already switched returns the switch, once, and the late message is ignored', async () => {
    const output = new WiredOutput();
    const { thread } = await started(output);
    const dueMs = performance.now() + 5;
    const p = planned(thread, true, dueMs);
    // The wire is switched while the loop is blocked: the thread's report cannot have been handled yet.
    blockLoopUntil(() => output.active);
    const result = p.cancel();
    expect(result).not.toBeNull();
    expect((result as { timeMs: number }).timeMs).toBeGreaterThanOrEqual(dueMs);
    // The thread's own report is still on its way: stop() returns after every message it sent was handled.
    await thread.stop();
    expect(p.results).toEqual([]);
    expect(output.switched).toHaveLength(1);
  });

  it('a new plan replaces the previous one; only the new one switches', async () => {
    const output = new WiredOutput();
    const { thread } = await started(output);
    const t0 = performance.now();
    const first = planned(thread, true, t0 + 60);
    const second = planned(thread, true, t0 + 20);
    const result = await second.next;
    expect(result).not.toBeNull();
    // A third plan, due after the first one's time: once it has switched, the thread is past that time.
    expect(await planned(thread, false, t0 + 80).next).not.toBeNull();
    await thread.stop();
    expect(first.results).toEqual([]);
    expect(output.switched.map((s) => s.active)).toEqual([true, false]);
  });

  it("writes the driver's text for each level into a file target (a sysfs value file), active-low included", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lineside-gate-'));
    const file = path.join(dir, 'value');
    writeFileSync(file, '1');
    // active_low: logical active is electrical 0.
    const output = new WiredOutput({ kind: 'file', path: file, activeText: '0', inactiveText: '1' });
    const { thread } = await started(output);
    expect(await planned(thread, true, performance.now() + 5).next).not.toBeNull();
    expect(readFileSync(file, 'utf8')).toBe('0');
    expect(await planned(thread, false, performance.now() + 5).next).not.toBeNull();
    expect(readFileSync(file, 'utf8')).toBe('1');
  });

  it('a target it cannot open fails start with LS_GPIO_UNAVAILABLE and the reason', async () => {
    const output = new WiredOutput({
      kind: 'file',
      path: '/nonexistent/gpio4242/value',
      activeText: '1',
      inactiveText: '0',
    });
    const thread = new GateThread({ output, logger: captureLogger().logger, spinMs: 1 });
    await expect(thread.start(signal)).rejects.toMatchObject({
      code: 'LS_GPIO_UNAVAILABLE',
      message: expect.stringContaining('ENOENT') as string,
    });
    expect(thread.usable).toBe(false);
  });

  it('an output whose driver cannot switch it from a thread fails start with LS_GPIO_UNAVAILABLE', async () => {
    const plain: DigitalOutput = {
      name: 'gate',
      active: false,
      start: () => Promise.resolve(),
      stop: () => Promise.resolve(),
      write: () => undefined,
      forceSafe: () => undefined,
    };
    const thread = new GateThread({ output: plain, logger: captureLogger().logger, spinMs: 1 });
    await expect(thread.start(signal)).rejects.toMatchObject({
      code: 'LS_GPIO_UNAVAILABLE',
      message: expect.stringContaining('gate.timer: loop') as string,
    });
  });

  it('a crashed thread hands its outstanding plan back (null), turns unusable and logs an error', async () => {
    const output = new WiredOutput();
    const { thread, logs } = await started(output, new URL('./dying-gate-thread.ts', import.meta.url));
    const p = planned(thread, true, performance.now() + 500);
    expect(await p.next).toBeNull();
    expect(thread.usable).toBe(false);
    expect(output.active).toBe(false);
    expect(logs.errors().map((l) => l.code)).toEqual(['LS_GPIO_UNAVAILABLE']);
  });

  it('asks for SCHED_FIFO for the thread alone; where that is refused it says why in a warning and still works', async () => {
    const output = new WiredOutput();
    const { thread, logs } = await started(output, undefined, 50);
    const warnings = logs.lines.filter((l) => l.level === 40);
    if (thread.realtime === true) {
      // Root or LimitRTPRIO: the thread's own policy changed, not the test process's.
      expect(warnings).toEqual([]);
      expect(logs.lines.some((l) => l.msg.includes('SCHED_FIFO 50'))).toBe(true);
    } else {
      expect(thread.realtime).toBe(false);
      expect(warnings[0]?.msg).toContain('SCHED_FIFO 50 or CPU pinning was refused');
    }
    expect(await planned(thread, true, performance.now() + 5).next).not.toBeNull();
    expect(output.active).toBe(true);
  });

  it("an impossible priority is refused with chrt's reason, and the thread runs at normal priority", async () => {
    const output = new WiredOutput();
    const { thread, logs } = await started(output, undefined, 100);
    expect(thread.realtime).toBe(false);
    const warning = logs.lines.find((l) => l.level === 40);
    expect(warning?.msg).toContain('SCHED_FIFO 100 or CPU pinning was refused');
    expect(String(warning?.reason)).not.toBe('');
    expect(await planned(thread, true, performance.now() + 5).next).not.toBeNull();
  });

  it('several threads race for each edge, one per CPU: each edge is switched and reported exactly once', async () => {
    const output = new WiredOutput();
    const cpus = allowedCpus() ?? [];
    // leaveCpus 0: the race itself is what is under test here, also on a 2-CPU machine.
    const { thread, logs } = await started(output, undefined, 0, 2, 0);
    expect(thread.threadCount).toBe(Math.min(2, Math.max(1, cpus.length)));
    if (thread.threadCount === 2) {
      const line = logs.lines.find((l) => l.msg.includes('gate threads started'));
      expect(line?.cpus).toEqual([cpus.at(-1), cpus.at(-2)]);
    }
    for (let i = 0; i < 10; i++) {
      const dueMs = performance.now() + 5;
      const result = await planned(thread, i % 2 === 0, dueMs).next;
      expect((result as { timeMs: number }).timeMs).toBeGreaterThanOrEqual(dueMs);
    }
    // The losing thread of each race must not report too: stop() returns after every message was handled.
    await thread.stop();
    expect(output.switched.map((s) => s.active)).toEqual([
      true,
      false,
      true,
      false,
      true,
      false,
      true,
      false,
      true,
      false,
    ]);
  });

  it('leaves one CPU to inference and the event loop by default, and says so when it caps gate.threads', async () => {
    expect([
      gateThreadCount(2, 2, 1),
      gateThreadCount(2, 4, 1),
      gateThreadCount(3, 1, 1),
      gateThreadCount(1, 8, 1),
    ]).toEqual([1, 2, 1, 1]);
    const cpus = allowedCpus() ?? [];
    const { thread, logs } = await started(new WiredOutput(), undefined, 0, cpus.length);
    expect(thread.threadCount).toBe(Math.max(1, cpus.length - 1));
    expect(logs.lines.find((l) => l.msg.startsWith('gate.threads capped'))?.threads).toBe(Math.max(1, cpus.length - 1));
  });

  it('reads the CPUs it may use from a kernel CPU list', () => {
    expect(parseCpuList('0-3,6')).toEqual([0, 1, 2, 3, 6]);
    expect(parseCpuList('1')).toEqual([1]);
    expect(allowedCpus()?.length).toBeGreaterThan(0);
  });

  it('stop ends the thread; it is no longer usable', async () => {
    const output = new WiredOutput();
    const { thread } = await started(output);
    const p = planned(thread, true, performance.now() + 10_000);
    await thread.stop();
    expect(thread.usable).toBe(false);
    expect(p.results).toEqual([]);
    expect(output.active).toBe(false);
  });
});
