import type { InspectionLineConfig } from './inspection-line.js';

/**
 * Settings under which some failure lets parts pass uninspected, or goes unnoticed, as operator-facing
 * sentences (empty: nothing to warn about). Pure, so the daemon can log them at start and doctor can show them.
 */
export function failSafeWarnings(config: InspectionLineConfig): string[] {
  const warnings: string[] = [];
  const { gate, heartbeat, confirm } = config;
  if (gate.energised_position === 'reject') {
    warnings.push(
      heartbeat === undefined
        ? 'gate.energised_position is reject and no heartbeat output is configured: if the daemon dies, parts pass ' +
            'uninspected (use a diverter with energised_position: pass, or wire a heartbeat watchdog relay to stop the line; docs/tracking.md)'
        : 'gate.energised_position is reject: parts on the belt when the daemon stops pass; the heartbeat watchdog relay must stop the line (docs/tracking.md)',
    );
  } else if (heartbeat === undefined) {
    warnings.push(
      'gate.energised_position is pass and no heartbeat output is configured: a hung daemon can hold the diverter in pass ' +
        '(wire a heartbeat watchdog relay in series with the gate coil; docs/tracking.md)',
    );
  }
  if (confirm === undefined) {
    warnings.push(
      'no confirm sensor is configured: a gate that does not move (air supply, jammed actuator) goes unnoticed',
    );
  }
  return warnings;
}
