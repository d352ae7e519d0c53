import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const SCRIPT = path.resolve(import.meta.dirname, '../../../scripts/install-test-deps.sh');

/**
 * The script against stand-ins for dpkg, apt-get, sudo, id, npm and sleep (first on PATH) that log their
 * arguments: nothing is installed, and the real apt locks are never touched.
 */
let root: string;
let log: string;

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'lineside-deps-'));
  log = path.join(root, 'calls.log');
  mkdirSync(path.join(root, 'scripts'));
  copyFileSync(SCRIPT, path.join(root, 'scripts', 'install-test-deps.sh'));
  const bin = path.join(root, 'bin');
  mkdirSync(bin);
  const tool = (name: string, body: string): void => {
    writeFileSync(path.join(bin, name), `#!/bin/bash\n${body}\n`);
    chmodSync(path.join(bin, name), 0o755);
  };
  tool('dpkg', 'for m in $MISSING; do [ "$2" = "$m" ] && exit 1; done; exit 0');
  tool('id', 'echo 1000');
  tool('sudo', `echo "sudo $1" >> ${log}; exec "$@"`);
  tool('sleep', `echo "sleep $*" >> ${log}`);
  tool('npm', `echo "npm $* (in $PWD)" >> ${log}`);
  // `update` fails on the lists lock LOCKED_UPDATES times (a count kept in a file), or with OTHER_ERROR.
  tool(
    'apt-get',
    `echo "apt-get $*" >> ${log}
if [[ " $* " == *" update "* ]]; then
  if [ -n "$OTHER_ERROR" ]; then echo "E: The repository does not have a Release file." >&2; exit 100; fi
  n=$(cat ${root}/locked 2>/dev/null || echo 0)
  if [ "$n" -gt 0 ]; then
    echo $((n - 1)) > ${root}/locked
    echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)" >&2
    echo "E: Unable to lock directory /var/lib/apt/lists/" >&2
    exit 100
  fi
fi
exit 0`,
  );
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function run(env: Record<string, string>): { status: number | null; calls: string[]; output: string } {
  const result = spawnSync('bash', [path.join(root, 'scripts', 'install-test-deps.sh')], {
    env: { PATH: `${path.join(root, 'bin')}:${process.env.PATH ?? ''}`, MISSING: '', OTHER_ERROR: '', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  const calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
  return { status: result.status, calls, output: result.stdout + result.stderr };
}

const lockWait = '-o DPkg::Lock::Timeout=600';

describe('scripts/install-test-deps.sh', () => {
  it('does nothing when every package is present', () => {
    const { status, calls, output } = run({});
    expect(status).toBe(0);
    expect(output).toContain('test dependencies present');
    expect(calls).toEqual([]);
  });

  it('installs what is missing, mosquitto-clients included, waiting for the dpkg locks and retrying while the lists lock is held', () => {
    writeFileSync(path.join(root, 'locked'), '2');
    const { status, calls, output } = run({ MISSING: 'mosquitto-clients gpiod' });
    expect(status, output).toBe(0);
    expect(calls.filter((c) => c.startsWith('apt-get'))).toEqual([
      `apt-get ${lockWait} update -q`,
      `apt-get ${lockWait} update -q`,
      `apt-get ${lockWait} update -q`,
      `apt-get ${lockWait} install -y -q --no-install-recommends mosquitto-clients gpiod`,
    ]);
    expect(calls.filter((c) => c.startsWith('sleep'))).toHaveLength(2);
    expect(calls.filter((c) => c.startsWith('sudo'))).toHaveLength(4);
    expect(output).toContain('another apt holds the package lists lock; waiting');
    // libgphoto2-dev was already there: the addon needs no rebuild.
    expect(calls.filter((c) => c.startsWith('npm'))).toEqual([]);
  });

  it('fails (exit 100) at once when apt-get update fails for another reason', () => {
    const { status, calls } = run({ MISSING: 'gpiod', OTHER_ERROR: '1' });
    expect(status).toBe(100);
    expect(calls.filter((c) => c.startsWith('apt-get'))).toEqual([`apt-get ${lockWait} update -q`]);
    expect(calls.filter((c) => c.startsWith('sleep'))).toEqual([]);
  });

  it('builds the gphoto2 addon after installing libgphoto2-dev when node_modules is there, as the invoking user', () => {
    expect(run({ MISSING: 'libgphoto2-dev' }).calls.filter((c) => c.startsWith('npm'))).toEqual([]);
    rmSync(log);
    // npm left the optional addon out (its build failed without libgphoto2-dev): install it again.
    mkdirSync(path.join(root, 'node_modules'));
    expect(run({ MISSING: 'libgphoto2-dev' }).calls.filter((c) => c.startsWith('npm'))).toEqual([
      `npm install --no-audit --no-fund (in ${root})`,
    ]);
    rmSync(log);
    // Present but unbuilt: rebuild it.
    mkdirSync(path.join(root, 'node_modules', 'gphoto2'));
    const { calls } = run({ MISSING: 'libgphoto2-dev' });
    expect(calls.filter((c) => c.startsWith('npm'))).toEqual([`npm rebuild gphoto2 (in ${root})`]);
    expect(calls.filter((c) => c.startsWith('sudo npm'))).toEqual([]);
  });
});
