import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, skipWithoutGphoto2Addon } from './helpers.js';

/** Needs root (or CAP_SYS_ADMIN) for a private mount namespace; CI containers running as root have it. */
function canMountPrivately(): boolean {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('unshare', ['-m', 'true']).status === 0;
}

describe.skipIf(!canMountPrivately())('gphoto2 camera against the real libgphoto2 (mass-storage "camera")', () => {
  const mountDir = mkdtempSync(path.join(tmpdir(), 'lineside-gphoto2-disk-'));

  afterAll(() => {
    rmSync(mountDir, { recursive: true, force: true });
  });

  it('detects, selects by port, opens, and maps the real "cannot capture" result; native noise stays off stdout', (ctx) => {
    skipWithoutGphoto2Addon(ctx);
    const probe = path.join(PROJECT_ROOT, 'tests/unit/camera/gphoto2-disk-probe.ts');
    const probeTmp = mkdtempSync(path.join(tmpdir(), 'lineside-gphoto2-tmp-'));
    const run = spawnSync(
      'unshare',
      [
        '-m',
        'sh',
        '-c',
        'mount -t tmpfs lineside-gphoto2 "$1" && exec node --import tsx "$2" "$1"',
        'sh',
        mountDir,
        probe,
      ],
      { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, TMPDIR: probeTmp } },
    );
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout.split('\n').filter(Boolean);
    // Every stdout line is JSON: libgphoto2's "###" messages went to stderr, not into our log stream.
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const outcome = records.at(-1)?.outcome;
    expect(outcome).toEqual({
      selected: `"Mass Storage Camera" on disk:${mountDir}`,
      capture: {
        code: 'LS_CAMERA_ERROR',
        message:
          'capture: GP_ERROR_NOT_SUPPORTED (-6): not supported by this camera (it may not support remote capture)',
        result: -6,
      },
    });
    expect(records.some((r) => r.msg === 'gphoto2 camera ready')).toBe(true);
    expect(run.stderr).toContain('### This camera can not capture.');
    expect(run.stdout).not.toContain('###');
    // Detect, open and a capture attempt through the real addon left no temp files (tsx keeps its cache there).
    expect(readdirSync(probeTmp).filter((name) => !name.startsWith('tsx-'))).toEqual([]);
    rmSync(probeTmp, { recursive: true, force: true });
  });
});
