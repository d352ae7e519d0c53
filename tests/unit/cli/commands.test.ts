import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS, HELP_COMMANDS, USAGE } from '../../../src/cli/commands.js';
import { renderErrorsDoc } from '../../../src/config/docs.js';

const root = path.resolve(import.meta.dirname, '../../..');
const known = new Set<string>([...Object.keys(COMMANDS), ...HELP_COMMANDS]);

/** The operator-facing documents: every Markdown file and unit file outside node_modules and tests. */
function documents(): string[] {
  const files = ['README.md'];
  const walk = (dir: string): void => {
    for (const name of readdirSync(path.join(root, dir))) {
      const rel = path.join(dir, name);
      if (statSync(path.join(root, rel)).isDirectory()) walk(rel);
      else if (/\.(md|service)$/.test(name)) files.push(rel);
    }
  };
  for (const dir of ['docs', 'systemd', 'training', 'models']) walk(dir);
  return files;
}

/** The code in a document: fenced blocks, indented blocks and inline code spans (a unit file is all code). */
function codeOf(file: string, text: string): string[] {
  if (file.endsWith('.service')) return text.split('\n');
  const code: string[] = [];
  const prose: string[] = [];
  let fenced = false;
  for (const line of text.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    else if (fenced) code.push(line);
    else {
      if (/^ {4,}\S/.test(line)) code.push(line);
      prose.push(line);
    }
  }
  // An inline code span may continue on the next line.
  for (const span of prose.join('\n').matchAll(/`([^`]+)`/g)) code.push(span[1]!.replace(/\s+/g, ' '));
  return code;
}

/** `lineside WORD` where lineside is the program run: at the start, or after $, sudo [-u USER], npx, node, a path. */
const INVOCATION =
  /(?:^\s*|[;&|]\s*|\$\s+|npx\s+|sudo\s+(?:-u\s+\S+\s+)?|node\s+)(?:\S*\/)?lineside(?:\.js)?\s+([a-z][a-z0-9-]*)/g;

function invocations(lines: readonly string[]): string[] {
  return lines.flatMap((line) => [...line.matchAll(INVOCATION)].map((m) => m[1]!));
}

describe('the commands the docs tell the operator to run', () => {
  it('finds invocations in every form the docs use', () => {
    expect(
      invocations([
        'lineside doctor',
        '    lineside doctor --config /etc/lineside/config.yaml',
        'npm install && npx lineside run --config config/demo.yaml',
        'sudo -u lineside node bin/lineside.js validate-config /etc/lineside/lineside.yaml',
        'ExecStopPost=/usr/bin/node /opt/lineside/bin/lineside.js safe-outputs --config x',
        '$ lineside ack',
      ]),
    ).toEqual(['doctor', 'doctor', 'run', 'validate-config', 'safe-outputs', 'ack']);
    expect(
      invocations([
        'journalctl -u lineside -f',
        'useradd --shell /usr/sbin/nologin lineside',
        'mkdir /var/lib/lineside',
      ]),
    ).toEqual([]);
  });

  it('every `lineside <command>` in the docs, the unit file and the error table exists in src/cli/commands.ts', () => {
    const found: { file: string; command: string }[] = [];
    for (const file of documents()) {
      for (const command of invocations(codeOf(file, readFileSync(path.join(root, file), 'utf8'))))
        found.push({ file, command });
    }
    for (const command of invocations(codeOf('errors.md', renderErrorsDoc())))
      found.push({ file: 'src/errors.ts', command });
    // The docs do name commands (a scanner that finds nothing checks nothing).
    expect(found.map((f) => f.command)).toEqual(
      expect.arrayContaining(['run', 'validate-config', 'doctor', 'safe-outputs']),
    );
    expect(found.filter((f) => !known.has(f.command))).toEqual([]);
  });

  it('the usage text lists every command', () => {
    const listed = [...USAGE.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]);
    expect(listed).toEqual([...Object.keys(COMMANDS), 'help']);
  });
});
