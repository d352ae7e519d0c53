import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { CliIo } from '../../src/cli/io.js';
import { runSafeOutputs } from '../../src/cli/safe-outputs.js';
import { tempDir } from './harness.js';

let dir: { path: string; remove: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir('safe');
});
afterAll(async () => dir.remove());

function cli(): CliIo {
  const out = new PassThrough();
  out.resume();
  return {
    stdout: out,
    stderr: out,
    isTTY: false,
    env: {},
    signal: new AbortController().signal,
    logStream: () => out,
  };
}

describe('lineside safe-outputs (systemd ExecStopPost)', () => {
  it('drives the gate, alarm and heartbeat lines to their inactive level, honouring active_low', async () => {
    const log = path.join(dir.path, 'gpioset.log');
    const gpioset = path.join(dir.path, 'gpioset');
    const version = (tool: string): string =>
      `if [ "$1" = "--version" ]; then echo "${tool} (libgpiod) v1.6.3"; exit 0; fi\n`;
    // A stand-in for libgpiod 1.6 gpioset: records its arguments; --mode=signal holds until SIGTERM.
    const hold = `case "$1" in --mode=exit) exit 0;; esac\ns=; trap 'kill $s 2>/dev/null; exit 0' TERM\nwhile :; do sleep 1 & s=$!; wait $s; done\n`;
    writeFileSync(gpioset, `#!/bin/sh\n${version('gpioset')}echo "$*" >> ${log}\n${hold}`, { mode: 0o755 });
    const gpiomon = path.join(dir.path, 'gpiomon');
    writeFileSync(gpiomon, `#!/bin/sh\n${version('gpiomon')}cat >/dev/null\n`, { mode: 0o755 });
    const file = path.join(dir.path, 'line.yaml');
    writeFileSync(
      file,
      stringify({
        camera: { type: 'folder', path: dir.path },
        gpio: { type: 'gpiod', chip: 'gpiochip0', gpioset, gpiomon },
        trigger: { line: 17 },
        gate: { line: 27, active_low: true },
        alarms: { output: { line: 5 } },
        heartbeat: { line: 6 },
      }),
    );
    expect(await runSafeOutputs(['--config', file], cli())).toBe(0);
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    expect(calls).toEqual(
      expect.arrayContaining([
        '--mode=signal gpiochip0 27=1',
        '--mode=signal gpiochip0 5=0',
        '--mode=signal gpiochip0 6=0',
      ]),
    );
    expect(calls).toEqual(
      expect.arrayContaining(['--mode=exit gpiochip0 27=1', '--mode=exit gpiochip0 5=0', '--mode=exit gpiochip0 6=0']),
    );
    expect(calls.some((c) => c.endsWith('27=0'))).toBe(false);
  });

  it('exits 78 on a bad config without touching GPIO', async () => {
    const file = path.join(dir.path, 'bad.yaml');
    writeFileSync(file, stringify({ gpio: { type: 'sim' }, gate: { line: -3 } }));
    expect(await runSafeOutputs(['--config', file], cli())).toBe(78);
  });
});
