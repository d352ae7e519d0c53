// Which folder may import which (docs/architecture.md). Kept apart from eslint.config.js so that
// tests/unit/architecture.test.ts lints sample imports against these very rules.
const nodeIo = [
  'node:fs',
  'node:fs/promises',
  'fs',
  'fs/promises',
  'node:child_process',
  'node:net',
  'node:worker_threads',
];
const drivers = ['mqtt', 'aedes', 'onnxruntime-node', 'sharp', 'onoff', 'gphoto2', 'pino'];

/** The layer folders below src/, as relative import patterns from a folder one level down. */
const outer = (...folders) => folders.flatMap((f) => [`../${f}`, `../${f}/*`, `../${f}/**`, `../${f}.js`]);

export const layerRules = [
  {
    // The domain: types every layer shares. It depends on nothing of ours but the error codes.
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...nodeIo, ...drivers].map((name) => ({ name, message: 'src/domain holds types only.' })),
          patterns: [{ group: ['../*', '!../errors.js'], message: 'src/domain imports only src/errors.ts.' }],
        },
      ],
    },
  },
  {
    // The pipeline: pure logic over the domain's ports. No driver, no fs, no broker, no logger.
    files: ['src/pipeline/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...nodeIo, ...drivers].map((name) => ({
            name,
            message: 'src/pipeline is pure logic: ports come from src/domain.',
          })),
          patterns: [
            {
              group: [
                ...outer('io', 'camera', 'inference', 'cli', 'app', 'http', 'main', 'log', 'notify', 'worker'),
                '../../io/**',
                '../../camera/**',
                '../../inference/**',
              ],
              message:
                'src/pipeline imports only src/domain (ports and part types), src/config types, errors and deadline.',
            },
          ],
        },
      ],
    },
  },
  {
    // Drivers implement the domain's ports; they never reach into the pipeline, the app or the CLI.
    files: ['src/camera/**/*.ts', 'src/inference/**/*.ts', 'src/io/**/*.ts', 'src/record/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                ...outer('pipeline', 'cli', 'app', 'http', 'main'),
                '../../pipeline/**',
                '../../cli/**',
                '../../app.js',
                '../../app/**',
                '../../http/**',
                '../../main.js',
              ],
              message: 'Drivers implement src/domain ports and do not import the pipeline, the app or the CLI.',
            },
          ],
        },
      ],
    },
  },
];
