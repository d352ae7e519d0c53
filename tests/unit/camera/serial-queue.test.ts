import { describe, expect, it, vi } from 'vitest';
import { SerialQueue } from '../../../src/camera/serial-queue.js';
import { LinesideError } from '../../../src/errors.js';

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (err: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const never = new AbortController().signal;

describe('SerialQueue', () => {
  it('runs tasks one at a time, in call order', async () => {
    const queue = new SerialQueue({ maxWaiting: 10, what: 'cam' });
    let running = 0;
    let maxRunning = 0;
    const order: number[] = [];
    const task = (n: number) => async () => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      // Async work: any other task the queue let start would run during this turn.
      await new Promise((resolve) => setImmediate(resolve));
      order.push(n);
      running -= 1;
      return n;
    };
    const results = await Promise.all([1, 2, 3, 4].map((n) => queue.run(task(n), never)));
    expect(results).toEqual([1, 2, 3, 4]);
    expect(order).toEqual([1, 2, 3, 4]);
    expect(maxRunning).toBe(1);
  });

  it('keeps later tasks waiting while a task hangs; an aborted waiter leaves the queue and never runs', async () => {
    const queue = new SerialQueue({ maxWaiting: 10, what: 'cam' });
    const hung = deferred<string>();
    const first = queue.run(() => hung.promise, never);
    const caller = new AbortController();
    let secondRan = false;
    const second = queue.run(() => {
      secondRan = true;
      return Promise.resolve('second');
    }, caller.signal);
    expect(queue.waiting).toBe(1);
    const reason = new LinesideError('LS_CAMERA_TIMEOUT', 'deadline');
    caller.abort(reason);
    await expect(second).rejects.toBe(reason);
    expect(queue.waiting).toBe(0);
    hung.resolve('first');
    await expect(first).resolves.toBe('first');
    await expect(queue.run(() => Promise.resolve('third'), never)).resolves.toBe('third');
    expect(secondRan).toBe(false);
  });

  it('refuses at once beyond maxWaiting instead of piling up', async () => {
    const queue = new SerialQueue({ maxWaiting: 2, what: 'cam', nowMs: () => 1000 });
    const hung = deferred<void>();
    void queue.run(() => hung.promise, never);
    const waiting = [queue.run(() => Promise.resolve(), never), queue.run(() => Promise.resolve(), never)];
    await expect(queue.run(() => Promise.resolve(), never)).rejects.toMatchObject({
      code: 'LS_CAMERA_TIMEOUT',
      message: 'cam: camera busy for 0 ms with 2 captures already waiting',
    });
    hung.resolve();
    await Promise.all(waiting);
    expect(queue.runningForMs()).toBeNull();
  });

  it('close fails the waiting tasks, refuses new ones and waits (bounded) for the running one', async () => {
    const queue = new SerialQueue({ maxWaiting: 5, what: 'cam' });
    const running = deferred<void>();
    void queue.run(() => running.promise, never);
    const waiter = queue.run(() => Promise.resolve(), never);
    const reason = new LinesideError('LS_CAMERA_ERROR', 'stopped');
    const closed = queue.close(reason, 10_000);
    await expect(waiter).rejects.toBe(reason);
    await expect(queue.run(() => Promise.resolve(), never)).rejects.toBe(reason);
    running.resolve();
    await closed;
  });

  it('close gives up on a task that never settles after boundMs', async () => {
    vi.useFakeTimers();
    try {
      const queue = new SerialQueue({ maxWaiting: 5, what: 'cam' });
      void queue.run(() => new Promise<void>(() => undefined), never);
      const closed = vi.fn();
      void queue.close(new LinesideError('LS_CAMERA_ERROR', 'stopped'), 20).then(closed);
      await vi.advanceTimersByTimeAsync(19);
      expect(closed).not.toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(1);
      expect(closed).toHaveBeenCalledOnce();
    } finally {
      vi.useRealTimers();
    }
  });
});
