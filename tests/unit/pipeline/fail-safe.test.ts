import { describe, expect, it } from 'vitest';
import { failSafeWarnings } from '../../../src/pipeline/fail-safe.js';
import { lineConfig } from './fakes.js';

describe('failSafeWarnings', () => {
  it('the shipped defaults (air blast, no heartbeat, no confirm sensor) are warned about', () => {
    const warnings = failSafeWarnings(lineConfig());
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain(
      'gate.energised_position is reject and no heartbeat output is configured: if the daemon dies, parts pass',
    );
    expect(warnings[1]).toContain('no confirm sensor');
  });

  it('a diverter (energised = pass) with a heartbeat and a confirm sensor is fail-safe: no warnings', () => {
    expect(failSafeWarnings(lineConfig({ gate: { energised_position: 'pass' }, heartbeat: {}, confirm: {} }))).toEqual(
      [],
    );
  });

  it('a diverter without a heartbeat can be held in pass by a hung daemon', () => {
    const warnings = failSafeWarnings(lineConfig({ gate: { energised_position: 'pass' }, confirm: {} }));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('hung daemon can hold the diverter in pass');
  });

  it('an air blast with a heartbeat still lets the parts on the belt pass at stop: the relay must stop the line', () => {
    const warnings = failSafeWarnings(lineConfig({ heartbeat: {}, confirm: {} }));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('must stop the line');
  });
});
