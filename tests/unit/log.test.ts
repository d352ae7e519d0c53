import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';

function sink(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, lines };
}

describe('logger', () => {
  it('writes plain JSON lines outside systemd', () => {
    const { stream, lines } = sink();
    const logger = createLogger({ level: 'info', destination: stream }, {});
    logger.child({ component: 'camera' }).info({ part: 3 }, 'hello');
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({ level: 30, component: 'camera', part: 3, msg: 'hello' });
  });

  it('prefixes each line with its syslog priority under systemd, so journalctl -p filters', () => {
    const { stream, lines } = sink();
    const logger = createLogger({ level: 'debug', destination: stream }, { JOURNAL_STREAM: '8:1234' });
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    logger.fatal('f');
    expect(lines.map((l) => l.slice(0, 3))).toEqual(['<7>', '<6>', '<4>', '<3>', '<2>']);
    expect(JSON.parse(lines[2]!.slice(3))).toMatchObject({ msg: 'w', level: 40 });
  });

  it('never writes a password, wherever it sits in the object', () => {
    const { stream, lines } = sink();
    const logger = createLogger({ level: 'info', destination: stream }, {});
    logger.info({ password: 'hunter2', mqtt: { password: 'hunter3' } }, 'connecting');
    expect(lines.join('\n')).not.toMatch(/hunter/);
  });
});
