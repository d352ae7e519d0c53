import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import ts from 'typescript';
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
    const messages = await restrictedImports(
      'src/pipeline/example.ts',
      "import { SimGpio } from '../io/gpio/sim.js';\nvoid SimGpio;\n",
    );
    expect(messages).toEqual([
      expect.stringMatching(/^no-restricted-imports: .*src\/pipeline imports only src\/domain/),
    ]);
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
    expect(
      await restrictedImports(
        'src/io/mqtt/example.ts',
        "import { InspectionLine } from '../../pipeline/inspection-line.js';\nvoid InspectionLine;\n",
      ),
    ).toHaveLength(1);
    expect(
      await restrictedImports(
        'src/domain/example.ts',
        "import type { Config } from '../config/schema.js';\nexport type C = Config;\n",
      ),
    ).toHaveLength(1);
    expect(
      await restrictedImports(
        'src/domain/example.ts',
        "import type { ErrorCode } from '../errors.js';\nexport type C = ErrorCode;\n",
      ),
    ).toEqual([]);
  });
});

/** Every function-like node in a source file with its body's length in lines. */
function functionLengths(file: string, text: string): { name: string; lines: number }[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const out: { name: string; lines: number }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const body = node.body as ts.Node;
      const start = source.getLineAndCharacterOfPosition(body.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(body.getEnd()).line;
      const name = node.name !== undefined && ts.isIdentifier(node.name) ? node.name.text : '(anonymous)';
      out.push({ name: `${path.relative(ROOT, file)}:${start + 1} ${name}`, lines: end - start - 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

describe('module size (a newcomer reads each module in one sitting)', () => {
  const files = readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(ROOT, 'src', f));

  it('no file in src/ is longer than 400 lines', () => {
    const long = files
      .map((f) => ({ f: path.relative(ROOT, f), lines: readFileSync(f, 'utf8').split('\n').length - 1 }))
      .filter((x) => x.lines > 400);
    expect(long).toEqual([]);
  });

  it('no function in src/ is longer than 60 lines', () => {
    const long = files.flatMap((f) => functionLengths(f, readFileSync(f, 'utf8'))).filter((x) => x.lines > 60);
    expect(long).toEqual([]);
  });
});
