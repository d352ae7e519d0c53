import { constants, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { LinesideError, errorMessage } from './errors.js';

export interface ReadRegularFileOptions {
  /** A bigger file is refused unread with LS_IMAGE_TOO_LARGE: a multi-gigabyte file must not exhaust memory. */
  maxBytes?: number;
  /** The caller's deadline: aborting it stops the read. */
  signal?: AbortSignal;
}

function kind(info: Stats): string {
  if (info.isFIFO()) return 'a FIFO';
  if (info.isDirectory()) return 'a directory';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isSocket()) return 'a socket';
  return 'not a file';
}

/**
 * Reads a whole file, and only a regular file: the one way lineside reads an image (or any file on the capture and
 * inference path). open(2) of a FIFO with no writer blocks, and Node runs it on a libuv pool thread that then never
 * returns: four of them (the pool's default size) stall every file read, every asynchronous log write, and even
 * process.exit(), which waits for the pool. With O_NONBLOCK that open returns at once (reads of a regular file are
 * unaffected), and the fstat of the handle, not a stat of the path that could change in between, decides.
 * Throws LinesideError LS_FILE_UNREADABLE (cannot open, not a regular file, read failed) or LS_IMAGE_TOO_LARGE.
 */
export async function readRegularFile(file: string, options: ReadRegularFileOptions = {}): Promise<Buffer> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new LinesideError('LS_FILE_UNREADABLE', `cannot open: ${errorMessage(err)}`, { cause: err });
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new LinesideError('LS_FILE_UNREADABLE', `not a regular file (${kind(info)})`);
    const { maxBytes, signal } = options;
    if (maxBytes !== undefined && info.size > maxBytes) {
      throw new LinesideError('LS_IMAGE_TOO_LARGE', `file is ${info.size} bytes, over the limit of ${maxBytes} bytes`);
    }
    return await handle.readFile(signal ? { signal } : {});
  } catch (err) {
    if (err instanceof LinesideError) throw err;
    throw new LinesideError('LS_FILE_UNREADABLE', `cannot read: ${errorMessage(err)}`, { cause: err });
  } finally {
    await handle.close();
  }
}

/** True when `err` (from readRegularFile) says the file does not exist: an optional file is simply absent. */
export function isFileMissing(err: unknown): boolean {
  return err instanceof LinesideError && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
