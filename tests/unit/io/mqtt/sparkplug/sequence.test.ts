import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BdSeqFile, SeqCounter } from '../../../../../src/io/mqtt/sparkplug/sequence.js';
import { captureLogger, silentLogger, tempDir } from '../helpers.js';

describe('SeqCounter', () => {
  it('starts at 0 with a birth, counts to 255 and wraps to 0', () => {
    const seq = new SeqCounter();
    expect(seq.birth()).toBe(0);
    const values = Array.from({ length: 600 }, () => seq.next());
    expect(values.slice(0, 3)).toEqual([1, 2, 3]);
    expect(values[254]).toBe(255);
    expect(values[255]).toBe(0);
    expect(values[256]).toBe(1);
    expect(Math.max(...values)).toBe(255);
    for (let i = 1; i < values.length; i++) expect(values[i]).toBe(((values[i - 1] ?? -1) + 1) % 256);
  });

  it('a birth restarts at 0 wherever it was', () => {
    const seq = new SeqCounter();
    seq.birth();
    for (let i = 0; i < 77; i++) seq.next();
    expect(seq.birth()).toBe(0);
    expect(seq.next()).toBe(1);
  });
});

describe('BdSeqFile', () => {
  const dirs: { remove: () => Promise<void> }[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await dir.remove();
  });

  async function file(): Promise<string> {
    const dir = await tempDir('bdseq');
    dirs.push(dir);
    return join(dir.path, 'sub', 'sparkplug-bdseq.json');
  }

  it('starts at 0, increments per call and goes on from the saved value in a new instance (a daemon restart)', async () => {
    const path = await file();
    const first = new BdSeqFile(path, silentLogger());
    expect([first.next(), first.next(), first.next()]).toEqual([0, 1, 2]);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ bdSeq: 2 });
    const second = new BdSeqFile(path, silentLogger());
    expect(second.next()).toBe(3);
  });

  it('wraps from 255 to 0', async () => {
    const path = await file();
    const first = new BdSeqFile(path, silentLogger());
    first.next();
    await writeFile(path, JSON.stringify({ bdSeq: 254 }));
    const bd = new BdSeqFile(path, silentLogger());
    expect([bd.next(), bd.next(), bd.next()]).toEqual([255, 0, 1]);
  });

  it('a damaged file starts again at 0', async () => {
    const path = await file();
    new BdSeqFile(path, silentLogger()).next();
    await writeFile(path, '{"bdSeq": "x');
    expect(new BdSeqFile(path, silentLogger()).next()).toBe(0);
  });

  it('a file that cannot be written is logged and the value is still given', async () => {
    const { logger, records } = captureLogger();
    const blocker = await file();
    new BdSeqFile(blocker, silentLogger()).next(); // a file where the directory would have to be
    const bd = new BdSeqFile(join(blocker, 'bdseq.json'), logger);
    expect([bd.next(), bd.next()]).toEqual([0, 1]);
    expect(records().some((r) => r.code === 'LS_MQTT_OUTBOX' && r.level === 40)).toBe(true);
  });
});
