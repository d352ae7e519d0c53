import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Logger } from './log.js';

/** sd_notify(3) for Type=notify units: READY, STOPPING, STATUS and WATCHDOG pings. A no-op outside systemd. */
export interface Notifier {
  /** Watchdog interval requested by systemd (WATCHDOG_USEC), or null when no watchdog is configured. */
  readonly watchdogMs: number | null;
  send(state: Record<string, string>): void;
  close(): void;
}

interface DgramSocketLike {
  sendTo(buf: Buffer, offset: number, length: number, destPath: string, onWrite?: (err?: Error) => void): void;
  close(): void;
}

type DgramCtor = new () => DgramSocketLike;

function loadDgram(): DgramCtor | null {
  try {
    const require = createRequire(import.meta.url);
    return (require('node-unix-socket') as { DgramSocket: DgramCtor }).DgramSocket;
  } catch {
    return null;
  }
}

function encode(state: Record<string, string>): string {
  return Object.entries(state)
    .map(([key, value]) => `${key}=${value.replace(/\n/g, ' ')}`)
    .join('\n');
}

export function createNotifier(env: NodeJS.ProcessEnv, logger: Logger): Notifier {
  const socketPath = env.NOTIFY_SOCKET;
  const watchdogUsec = Number(env.WATCHDOG_USEC);
  const watchdogPid = env.WATCHDOG_PID ? Number(env.WATCHDOG_PID) : process.pid;
  const watchdogMs =
    Number.isFinite(watchdogUsec) && watchdogUsec > 0 && watchdogPid === process.pid ? watchdogUsec / 1000 : null;
  if (!socketPath) return { watchdogMs: null, send: () => undefined, close: () => undefined };

  // Node has no unix datagram sockets; node-unix-socket ships prebuilt ones. Without it, fall back to the
  // systemd-notify tool, which needs NotifyAccess=all because the message then comes from a child process.
  const Dgram = loadDgram();
  // An abstract socket is written with a leading '@' in NOTIFY_SOCKET and a leading NUL on the wire.
  const target = socketPath.startsWith('@') ? `\0${socketPath.slice(1)}` : socketPath;
  const socket = Dgram ? new Dgram() : null;
  let warned = false;
  const onError = (err: Error | undefined | null): void => {
    if (err && !warned) {
      warned = true;
      logger.warn({ err, code: 'LS_WATCHDOG' }, 'sd_notify failed; systemd may not see READY or watchdog pings');
    }
  };
  logger.debug({ via: socket ? 'node-unix-socket' : 'systemd-notify', watchdogMs }, 'systemd notify socket present');
  return {
    watchdogMs,
    send(state) {
      const text = encode(state);
      if (socket) {
        const buf = Buffer.from(text);
        socket.sendTo(buf, 0, buf.length, target, onError);
      } else {
        execFile('systemd-notify', [`--pid=${process.pid}`, ...text.split('\n')], (err) => onError(err));
      }
    },
    close() {
      socket?.close();
    },
  };
}
