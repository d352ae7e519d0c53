import { spawnSync } from 'node:child_process';

/**
 * The first Python 3 that can import `modules` (e.g. 'numpy' or 'numpy, torch'): $PYTHON, then Debian's
 * /usr/bin/python3 (which carries python3-numpy and python3-torch), then whatever `python3` is on PATH (a pyenv
 * shim may shadow Debian's there). Undefined when none can.
 */
export function findPython(modules: string): string | undefined {
  const candidates = [process.env.PYTHON, '/usr/bin/python3', 'python3'].filter((c): c is string => c !== undefined);
  return candidates.find((c) => spawnSync(c, ['-c', `import ${modules}`], { stdio: 'ignore' }).status === 0);
}
