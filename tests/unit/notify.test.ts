import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { createNotifier } from '../../src/notify.js';

const require = createRequire(import.meta.url);
const { DgramSocket } = require('node-unix-socket') as typeof import('node-unix-socket');
const logger = createLogger({ level: 'silent' }, {});

describe('sd_notify', () => {
  it('is a no-op with no watchdog outside systemd', () => {
    const notifier = createNotifier({}, logger);
    expect(notifier.watchdogMs).toBeNull();
    expect(() => notifier.send({ READY: '1' })).not.toThrow();
  });

  it('reads the watchdog interval meant for this process only', () => {
    expect(createNotifier({ WATCHDOG_USEC: '10000000' }, logger).watchdogMs).toBeNull();
    const sock = path.join(mkdtempSync(path.join(tmpdir(), 'ls-notify-')), 'n.sock');
    expect(createNotifier({ NOTIFY_SOCKET: sock, WATCHDOG_USEC: '10000000' }, logger).watchdogMs).toBe(10_000);
    expect(
      createNotifier({ NOTIFY_SOCKET: sock, WATCHDOG_USEC: '10000000', WATCHDOG_PID: '1' }, logger).watchdogMs,
    ).toBeNull();
  });

  it('sends READY and STATUS datagrams to NOTIFY_SOCKET as systemd expects', async () => {
    const sockPath = path.join(mkdtempSync(path.join(tmpdir(), 'ls-notify-')), 'notify.sock');
    const server = new DgramSocket();
    const received = new Promise<string>((resolve) => server.on('data', (buf: Buffer) => resolve(buf.toString())));
    server.bind(sockPath);
    const notifier = createNotifier({ NOTIFY_SOCKET: sockPath }, logger);
    notifier.send({ READY: '1', STATUS: 'armed\nand ready' });
    expect(await received).toBe('READY=1\nSTATUS=armed and ready');
    notifier.close();
    server.close();
  });
});
