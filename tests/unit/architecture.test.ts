import path from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import { layerRules } from '../../eslint.layers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Lints one made-up file against the project's layer rules only (no type information needed for them). */
async function restrictedImports(file: string, code: string): Promise<string[]> {
  const eslint = new ESLint({
    cwd: ROOT,
    overrideConfigFile: true,
    overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, ...layerRules],
  });
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

describe('layer rules (eslint.layers.js, docs/architecture.md)', () => {
  it('reject a driver import into src/pipeline', async () => {
    const messages = await restrictedImports('src/pipeline/example.ts', "import { SimGpio } from '../io/gpio/sim.js';\nvoid SimGpio;\n");
    expect(messages).toEqual([expect.stringMatching(/^no-restricted-imports: .*src\/pipeline imports only src\/domain/)]);
  });

  it('reject fs, the broker client and the camera in src/pipeline', async () => {
    for (const spec of ['node:fs', 'mqtt', '../camera/folder.js', '../inference/worker-inspector.js', '../app.js']) {
      const messages = await restrictedImports('src/pipeline/example.ts', `import * as m from '${spec}';\nvoid m;\n`);
      expect(messages, spec).toHaveLength(1);
    }
  });

  it('allow the pipeline the domain, config types, errors and deadline', async () => {
    const code = [
      "import type { PartRecord } from '../domain/part.js';",
      "import type { EdgeInput } from '../domain/ports.js';",
      "import type { GateConfig } from '../config/sections/line.js';",
      "import { LinesideError } from '../errors.js';",
      "import { withDeadline } from '../deadline.js';",
      'void LinesideError; void withDeadline;',
      '',
    ].join('\n');
    expect(await restrictedImports('src/pipeline/tracking/example.ts', code.replaceAll("'../", "'../../"))).toEqual([]);
    expect(await restrictedImports('src/pipeline/example.ts', code)).toEqual([]);
  });

  it('reject a pipeline import into a driver, and anything but errors into the domain', async () => {
    expect(await restrictedImports('src/io/mqtt/example.ts', "import { InspectionLine } from '../../pipeline/inspection-line.js';\nvoid InspectionLine;\n")).toHaveLength(1);
    expect(await restrictedImports('src/domain/example.ts', "import type { Config } from '../config/schema.js';\nexport type C = Config;\n")).toHaveLength(1);
    expect(await restrictedImports('src/domain/example.ts', "import type { ErrorCode } from '../errors.js';\nexport type C = ErrorCode;\n")).toEqual([]);
  });
});
