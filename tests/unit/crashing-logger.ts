/**
 * A process that logs and then crashes, through the daemon's own pieces: the stdout log destination and logger
 * of src/log.ts, and the crash handler as src/main.ts installs it (die()). For log.test.ts.
 *
 *   burst      5000 log lines, 'last words', then an uncaught exception
 *
 * The first line of each burst is written at once from libuv's thread pool; the others wait in the destination's
 * buffer until that write calls back, which it cannot do once the process crashes: they are what the crash path
 * must write out.
 *   full-pipe  fill stdout's pipe (the reader waits), log 'in flight' and 'last words', then crash
 */
import { writeSync } from 'node:fs';
import { createLogger, stdoutDestination, writeCrashRecord } from '../../src/log.js';

const mode = process.argv[2];
// src/main.ts hands process.stdout to every command, which makes a piped stdout non-blocking (EAGAIN when full).
void process.stdout;
const destination = stdoutDestination();
const logger = createLogger({ level: 'info', destination: destination as unknown as NodeJS.WritableStream }, {});

process.on('uncaughtException', (err) => {
  try {
    writeCrashRecord(destination, 'uncaughtException', err, process.env);
  } finally {
    process.exit(70);
  }
});

if (mode === 'burst') {
  for (let i = 0; i < 5000; i++) logger.info({ i, pad: 'x'.repeat(100) }, 'burst');
  logger.info('last words');
} else if (mode === 'full-pipe') {
  const filler = Buffer.from(`${'#'.repeat(4095)}\n`);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  // Until the pipe stays full: the reader takes in what fits its own buffer, then stops.
  for (let wrote = true; wrote; Atomics.wait(nap, 0, 0, 50)) {
    wrote = false;
    for (;;) {
      try {
        writeSync(1, filler);
        wrote = true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
        throw err;
      }
    }
  }
  // Handed to libuv's thread pool at once: it lands when the pipe has room, or is lost with the process.
  logger.info('in flight');
  logger.info('last words');
  writeSync(2, 'crashing\n');
} else throw new Error(`unknown mode ${mode}`);

// Before any I/O callback can run: the lines above are still in the destination's buffer.
process.nextTick(() => {
  throw new Error('boom');
});
