import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../../src/config/load.js';
import { renderConfigDoc, renderErrorsDoc } from '../../../src/config/docs.js';
import { LinesideError } from '../../../src/errors.js';
import { aliasBomb } from '../../fixtures/alias-bomb.js';

const root = path.resolve(import.meta.dirname, '../../..');
const minimal = {
  camera: { type: 'folder', path: '/data' },
  gpio: { type: 'sim' },
  trigger: { line: 17 },
  gate: { line: 27 },
};

function configError(input: unknown): LinesideError {
  try {
    parseConfig(input);
  } catch (err) {
    if (err instanceof LinesideError) return err;
    throw err;
  }
  throw new Error('expected the config to be rejected');
}

describe('config schema', () => {
  it('fills every default and freezes the result', () => {
    const config = parseConfig(minimal);
    expect(config.mqtt.url).toBe('embedded');
    expect(config.inference.execution_providers).toEqual(['cpu']);
    expect(config.tracking).toEqual({ mode: 'time', distance_mm: 500, belt_speed_mm_s: 1000 });
    expect(config.gate.pulse_ms).toBe(80);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.gate)).toBe(true);
  });

  it('names the key path and the value of an out-of-range number', () => {
    const err = configError({ ...minimal, trigger: { line: 17, debounce_ms: 5000 } });
    expect(err.code).toBe('LS_CONFIG_INVALID');
    expect(err.message).toBe('trigger.debounce_ms: must be <= 1000 (got 5000)');
  });

  it('refuses a sim whose parts would overlap on the photo-eye (part_interval_ms < part_length_ms)', () => {
    const err = configError({ ...minimal, gpio: { type: 'sim', part_interval_ms: 10, part_length_ms: 20 } });
    expect(err.code).toBe('LS_CONFIG_INVALID');
    expect(err.message).toBe('gpio.part_interval_ms: must be >= gpio.part_length_ms (got 10 < 20)');
    // The default part length counts too.
    expect(configError({ ...minimal, gpio: { type: 'sim', part_interval_ms: 30 } }).message).toBe(
      'gpio.part_interval_ms: must be >= gpio.part_length_ms (got 30 < 40)',
    );
    expect(
      parseConfig({ ...minimal, gpio: { type: 'sim', part_interval_ms: 20, part_length_ms: 20 } }).gpio,
    ).toMatchObject({ part_interval_ms: 20 });
  });

  it('rejects unknown keys at any depth', () => {
    const err = configError({ ...minimal, gate: { line: 27, puls_ms: 50 }, colour: 'red' });
    expect(err.message).toContain('gate.puls_ms: unknown key');
    expect(err.message).toContain('colour: unknown key');
  });

  it('lists the valid driver types for an unknown one', () => {
    const err = configError({ ...minimal, camera: { type: 'usb' } });
    expect(err.message).toBe('camera.type: must be one of "folder", "gphoto2", "http" (got "usb")');
  });

  it('says which required key is missing', () => {
    const err = configError({ gpio: { type: 'sim' }, trigger: { line: 1 }, gate: { line: 2 } });
    expect(err.message).toMatch(/^camera: /);
  });

  it('reports every problem, one per line', () => {
    const err = configError({ ...minimal, gate: { line: -1 }, mqtt: { qos: 0 } });
    const lines = err.message.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines.some((l) => l.startsWith('gate.line: must be >= 0 (got -1)'))).toBe(true);
    expect(lines.some((l) => l.startsWith('mqtt.qos:'))).toBe(true);
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lineside-config-'));

  it('loads the demo config', () => {
    const loaded = loadConfig(path.join(root, 'config/demo.yaml'));
    expect(loaded.config.camera.type).toBe('folder');
    expect(loaded.baseDir).toBe(path.join(root, 'config'));
  });

  it('refuses a missing file with LS_CONFIG_UNREADABLE', () => {
    expect(() => loadConfig(path.join(dir, 'nope.yaml'))).toThrow(
      expect.objectContaining({ code: 'LS_CONFIG_UNREADABLE' }),
    );
  });

  it('refuses broken YAML and duplicate keys', () => {
    const broken = path.join(dir, 'broken.yaml');
    writeFileSync(broken, 'camera: [unclosed\n');
    expect(() => loadConfig(broken)).toThrow(expect.objectContaining({ code: 'LS_CONFIG_UNREADABLE' }));
    const dup = path.join(dir, 'dup.yaml');
    writeFileSync(dup, 'line_id: a\nline_id: b\n');
    expect(() => loadConfig(dup)).toThrow(expect.objectContaining({ code: 'LS_CONFIG_UNREADABLE' }));
  });

  it('refuses a YAML alias bomb (billion laughs) as a config error, without expanding it', () => {
    const bomb = path.join(dir, 'bomb.yaml');
    writeFileSync(bomb, aliasBomb());
    expect(() => loadConfig(bomb)).toThrow(
      expect.objectContaining({ code: 'LS_CONFIG_UNREADABLE', message: expect.stringContaining('alias') as unknown }),
    );
  });

  it('still expands a config that uses a few aliases', () => {
    const file = path.join(dir, 'aliases.yaml');
    writeFileSync(
      file,
      'camera: { type: folder, path: /data }\ngpio: { type: sim }\ntrigger: &eye { line: 17 }\ngate: { line: 27 }\nconfirm: *eye\n',
    );
    expect(loadConfig(file).config.confirm?.line).toBe(17);
  });
});

describe('generated docs', () => {
  it('docs/config.md and docs/errors.md match the schema and the error table (run `npm run docs`)', () => {
    expect(readFileSync(path.join(root, 'docs/config.md'), 'utf8')).toBe(renderConfigDoc());
    expect(readFileSync(path.join(root, 'docs/errors.md'), 'utf8')).toBe(renderErrorsDoc());
  });

  it('documents every key with a description', () => {
    const doc = renderConfigDoc();
    const keyRows = doc.split('\n').filter((l) => l.startsWith('| `'));
    expect(keyRows.length).toBeGreaterThan(40);
    for (const row of keyRows) expect(row.split('|')[4]?.trim(), row).not.toBe('');
  });
});

describe('config errors never echo credentials', () => {
  it('redacts user:password in a URL value it reports', () => {
    const err = configError({
      ...minimal,
      mqtt: { url: 'mqtt://plant:s3cret@broker:1883', qos: 7 },
      camera: { type: 'http', url: 'ftp://cam:pw@10.0.0.9/snap' },
    });
    expect(err.message).not.toContain('s3cret');
    expect(err.message).not.toContain(':pw@');
    expect(err.message).toContain('camera.url');
  });
});
