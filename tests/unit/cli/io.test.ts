import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../src/cli/io.js';
import { runDoctor } from '../../../src/cli/doctor.js';
import { runDaemon } from '../../../src/cli/run.js';
import { runSafeOutputs } from '../../../src/cli/safe-outputs.js';
import { runValidateConfig } from '../../../src/cli/validate-config.js';
import { captureIo } from './helpers.js';

describe('parseCommandLine', () => {
  const options = { config: { type: 'string' }, json: { type: 'boolean' } } as const;

  it('takes --flag value, --flag=value and booleans, and keeps positionals in order when allowed', () => {
    expect(parseCommandLine(['--config', 'a.yaml', '--json'], options)).toEqual({
      values: { config: 'a.yaml', json: true },
      positionals: [],
    });
    expect(parseCommandLine(['x', '--config=b.yaml', 'y'], options, { positionals: true })).toEqual({
      values: { config: 'b.yaml' },
      positionals: ['x', 'y'],
    });
  });

  it('turns a bad command line into a problem that names the argument', () => {
    const cases: [string[], RegExp][] = [
      [['--bogus'], /'--bogus'/],
      [['--config'], /'--config <value>' argument missing/],
      [['--json=yes'], /'--json' does not take an argument/],
      [['stray.yaml'], /'stray\.yaml'/],
      [['--config', '--json'], /'--config' argument is ambiguous/],
    ];
    for (const [argv, message] of cases) {
      const line = parseCommandLine(argv, options);
      expect(line.problem, argv.join(' ')).toMatch(message);
    }
  });
});

describe('usage errors of the commands', () => {
  const cases: [
    string,
    (argv: string[], io: ReturnType<typeof captureIo>['io']) => Promise<number>,
    string[],
    RegExp,
  ][] = [
    ['run', runDaemon, [], /--config FILE is required\nusage: lineside run --config FILE/],
    ['run', runDaemon, ['--config', 'x.yaml', '--bogus'], /Unknown option '--bogus'\nusage: lineside run/],
    [
      'run',
      runDaemon,
      ['--config', 'x.yaml', '--max-parts', '0'],
      /--max-parts: must be a positive integer \(got '0'\)/,
    ],
    ['run', runDaemon, ['x.yaml'], /Unexpected argument 'x\.yaml'/],
    ['safe-outputs', runSafeOutputs, ['--config'], /'--config <value>' argument missing\nusage: lineside safe-outputs/],
    ['doctor', runDoctor, ['--jsn'], /Unknown option '--jsn'\nusage: lineside doctor/],
    [
      'validate-config',
      runValidateConfig,
      ['a.yaml', 'b.yaml'],
      /unexpected argument: b\.yaml\nusage: lineside validate-config FILE/,
    ],
    ['validate-config', runValidateConfig, ['--strict', 'a.yaml'], /Unknown option '--strict'/],
  ];
  for (const [name, command, argv, message] of cases) {
    it(`${name} ${argv.join(' ')}: exit 64, the message names what is wrong, then the usage`, async () => {
      const { io, stderr, stdout } = captureIo();
      expect(await command(argv, io)).toBe(64);
      expect(stderr()).toMatch(message);
      expect(stdout()).toBe('');
    });
  }
});
