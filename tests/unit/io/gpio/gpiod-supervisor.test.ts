import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { supervisorScript } from '../../../../src/io/gpio/gpiod-output.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../../../..');
const script = path.join(root, 'src/io/gpio/gpiod-supervisor.sh');
const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0;

describe('the gpioset supervisor script', () => {
  it('is valid bash (bash -n)', async () => {
    await expect(run('bash', ['-n', script])).resolves.toMatchObject({ stderr: '' });
  });

  // Debian's shellcheck package; scripts/install-test-deps.sh installs it, so CI never skips this.
  it.skipIf(!hasShellcheck)('passes shellcheck (skipped where shellcheck is not installed)', async () => {
    await expect(run('shellcheck', ['--shell=bash', script])).resolves.toMatchObject({ stdout: '' });
  });

  it('is found from src/ (tsx) and from where `npm run build` puts the module (dist/)', () => {
    const build = JSON.parse(readFileSync(path.join(root, 'tsconfig.build.json'), 'utf8')) as {
      compilerOptions: { rootDir: string; outDir: string };
    };
    const { rootDir, outDir } = build.compilerOptions;
    for (const dir of [rootDir, outDir]) {
      const moduleUrl = pathToFileURL(path.join(root, dir, 'io/gpio/gpiod.js'));
      expect(supervisorScript(moduleUrl), dir).toBe(script);
    }
    expect(supervisorScript()).toBe(script);
    expect(existsSync(script)).toBe(true);
  });

  it('is in the package npm installs from (npm pack)', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root });
    const [pack] = JSON.parse(stdout) as { files: { path: string }[] }[];
    expect(pack?.files.map((f) => f.path)).toContain('src/io/gpio/gpiod-supervisor.sh');
  }, 60_000);
});
