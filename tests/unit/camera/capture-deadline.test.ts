import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { withCaptureDeadline } from '../../../src/camera/capture-deadline.js';
import { LinesideError } from '../../../src/errors.js';

describe('withCaptureDeadline', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves with the work result before the deadline', async () => {
    const result = withCaptureDeadline(() => Promise.resolve('image'), {
      timeoutMs: 100,
      signal: new AbortController().signal,
      what: 'test camera',
    });
    await expect(result).resolves.toBe('image');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with LS_CAMERA_TIMEOUT at timeoutMs even when the work never settles, and aborts its signal', async () => {
    let workSignal: AbortSignal | undefined;
    const result = withCaptureDeadline(
      (signal) => {
        workSignal = signal;
        return new Promise<never>(() => undefined);
      },
      { timeoutMs: 250, signal: new AbortController().signal, what: 'test camera' },
    );
    const settled = vi.fn();
    result.catch(settled);
    await vi.advanceTimersByTimeAsync(249);
    expect(settled).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    await expect(result).rejects.toMatchObject({
      code: 'LS_CAMERA_TIMEOUT',
      message: 'test camera: no image within 250 ms',
    });
    expect(workSignal?.aborted).toBe(true);
  });

  it('rejects at once when the caller aborts, passing a LinesideError reason through', async () => {
    const caller = new AbortController();
    const result = withCaptureDeadline(() => new Promise<never>(() => undefined), {
      timeoutMs: 10_000,
      signal: caller.signal,
      what: 'test camera',
    });
    const reason = new LinesideError('LS_CAMERA_TIMEOUT', 'pipeline capture deadline');
    caller.abort(reason);
    await expect(result).rejects.toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('maps a plain abort to LS_CAMERA_TIMEOUT and refuses to start when already aborted', async () => {
    const caller = new AbortController();
    caller.abort();
    const work = vi.fn(() => Promise.resolve('image'));
    await expect(
      withCaptureDeadline(work, { timeoutMs: 100, signal: caller.signal, what: 'cam' }),
    ).rejects.toMatchObject({
      code: 'LS_CAMERA_TIMEOUT',
      message: 'cam: capture aborted by the caller',
    });
    expect(work).not.toHaveBeenCalled();
  });

  it('passes the work error through unchanged', async () => {
    const err = new LinesideError('LS_CAMERA_ERROR', 'broken');
    await expect(
      withCaptureDeadline(() => Promise.reject(err), {
        timeoutMs: 100,
        signal: new AbortController().signal,
        what: 'cam',
      }),
    ).rejects.toBe(err);
  });
});
