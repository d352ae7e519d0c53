import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LogThrottle } from '../../src/log-throttle.js';

describe('LogThrottle', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lets the first occurrence through at once, then one line per interval with the count in between', () => {
    const throttle = new LogThrottle(60_000);
    expect(throttle.due()).toEqual({ count: 1, first: true });
    for (let i = 0; i < 99; i++) expect(throttle.due()).toBeUndefined();
    vi.advanceTimersByTime(59_999);
    expect(throttle.due()).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(throttle.due()).toEqual({ count: 101, first: false });
    vi.advanceTimersByTime(60_000);
    expect(throttle.due()).toEqual({ count: 1, first: false });
  });

  it('adds up counts given per call (messages dropped in one go)', () => {
    const throttle = new LogThrottle(1000);
    expect(throttle.due(15)).toEqual({ count: 15, first: true });
    expect(throttle.due(3)).toBeUndefined();
    expect(throttle.due(4)).toBeUndefined();
    vi.advanceTimersByTime(1000);
    expect(throttle.due(2)).toEqual({ count: 9, first: false });
  });

  it('after reset the next occurrence is a first line again, at once, and the old count is forgotten', () => {
    const throttle = new LogThrottle(60_000);
    throttle.due();
    throttle.due();
    throttle.reset();
    expect(throttle.due()).toEqual({ count: 1, first: true });
  });

  it('reads the clock it is given at each call', () => {
    let nowMs = 0;
    const throttle = new LogThrottle(10, () => nowMs);
    expect(throttle.due()?.first).toBe(true);
    nowMs = 9;
    expect(throttle.due()).toBeUndefined();
    nowMs = 10;
    expect(throttle.due()).toEqual({ count: 2, first: false });
  });
});
