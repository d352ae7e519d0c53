import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = path.resolve(import.meta.dirname, '../../../systemd');
const templatePath = path.join(dir, 'lineside@.service');
const settings = (file: string): string[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'));
const template = settings(templatePath);
const single = settings(path.join(dir, 'lineside.service'));

/** The settings that name the station; everything else must be lineside.service's, sandbox included. */
const PER_STATION = ['Description', 'ExecStart', 'ExecStopPost', 'LoadCredentialEncrypted', 'StateDirectory'];
const perStation = (line: string): boolean =>
  PER_STATION.concat('SyslogIdentifier').some((k) => line.startsWith(`${k}=`));

function exposure(unitFile: string): number {
  const out = execFileSync('systemd-analyze', ['security', '--offline=yes', unitFile], { encoding: 'utf8' });
  const match = /Overall exposure level for lineside@\w*\.service: ([0-9.]+)/.exec(out);
  expect(match, out.slice(-500)).not.toBeNull();
  return Number(match![1]);
}

describe('systemd/lineside@.service (one station per instance)', () => {
  it('runs /etc/lineside/<instance>.yaml, with its own state directory, credential and journal identifier', () => {
    const value = (key: string): string[] =>
      template.filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
    expect(value('ExecStart')[0]).toMatch(/ run --config \/etc\/lineside\/%i\.yaml$/);
    expect(value('ExecStopPost')[0]).toMatch(/ safe-outputs --config \/etc\/lineside\/%i\.yaml$/);
    expect(value('StateDirectory')).toEqual(['lineside/%i']);
    expect(value('LoadCredentialEncrypted')).toEqual([
      'mqtt_password:/etc/credstore.encrypted/lineside-%i.mqtt_password',
    ]);
    for (const line of template.filter(perStation)) expect(line, line).toContain('%i');
  });

  it("has lineside.service's settings, sandbox included, line for line apart from the station's own", () => {
    expect(template.filter((l) => !perStation(l))).toEqual(single.filter((l) => !perStation(l)));
    expect(template.filter(perStation).map((l) => l.split('=')[0])).toEqual(
      single.filter(perStation).map((l) => l.split('=')[0]),
    );
  });

  it('scores an exposure of at most 2.5 in systemd-analyze security, as the template and as an instance', () => {
    expect(exposure(templatePath)).toBeLessThanOrEqual(2.5);
    const tmp = mkdtempSync(path.join(tmpdir(), 'lineside-unit-'));
    try {
      const instance = path.join(tmp, 'lineside@press2.service');
      copyFileSync(templatePath, instance);
      expect(exposure(instance)).toBeLessThanOrEqual(2.5);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
