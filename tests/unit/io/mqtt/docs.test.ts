import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderMqttDoc } from '../../../../src/docs/mqtt.js';
import { alarmPayloadSchema, statusPayloadSchema, verdictPayloadSchema } from '../../../../src/io/mqtt/payload.js';
import { ALARM_KINDS } from '../../../../src/domain/alarm.js';
import { FAILSAFE_REASONS } from '../../../../src/domain/part.js';

const root = path.resolve(import.meta.dirname, '../../../..');
const doc = (): string => readFileSync(path.join(root, 'docs/mqtt.md'), 'utf8');

/** The backticked snake_case words in the "meaning" cell of the table row for `field` in the section `heading`. */
function listedValues(heading: string, field: string): string[] {
  const section = doc()
    .split(/^### /m)
    .find((s) => s.startsWith(heading));
  const row = section?.split('\n').find((line) => line.startsWith(`| \`${field}\` |`));
  if (row === undefined) throw new Error(`no row for ${field} under ${heading}`);
  const meaning = row.split(' | ').slice(1).join(' | ');
  return [...meaning.matchAll(/`([a-z][a-z0-9_]*)`/g)]
    .map((m) => m[1]!)
    .filter((word) => !/_(ms|mb|s)$/.test(word) && word !== 'mqtt');
}

describe('docs/mqtt.md', () => {
  it('shows the payloads the builders make (run `npm run docs` after changing a payload)', () => {
    expect(doc()).toBe(renderMqttDoc(doc()));
  });

  it('refuses an example block it cannot make, and an example without a block', () => {
    expect(() => renderMqttDoc('<!-- example: verdict-nope -->\n```json\n{}\n```\n')).toThrow(
      /unknown example "verdict-nope"/,
    );
    expect(() => renderMqttDoc('no examples here')).toThrow(/no block for example/);
  });

  it('field tables list exactly the values the code sends', () => {
    const sorted = (values: Iterable<string>): string[] => [...new Set(values)].sort();
    expect(sorted(listedValues('`<prefix>/verdict`', 'failsafe_reason'))).toEqual(
      sorted([...FAILSAFE_REASONS, 'null']),
    );
    expect(sorted(listedValues('`<prefix>/verdict`', 'tracking.outcome'))).toEqual(
      sorted([...verdictPayloadSchema.shape.tracking.shape.outcome.unwrap().options, 'null']),
    );
    expect(sorted(listedValues('`<prefix>/alarm`', 'alarm'))).toEqual(sorted(ALARM_KINDS));
    expect(sorted(listedValues('`<prefix>/alarm`', 'state'))).toEqual(sorted(alarmPayloadSchema.shape.state.options));
    expect(statusPayloadSchema.shape.reason.options.every((reason) => doc().includes(`"reason": "${reason}"`))).toBe(
      true,
    );
  });
});
