import { LinesideError, type ErrorCode } from '../errors.js';

/**
 * libgphoto2 result codes (gphoto2-port-result.h and gphoto2-result.h, libgphoto2 2.5), with what they usually
 * mean on a production line. node-gphoto2 hands these to its callbacks as bare negative integers.
 */
export const GPHOTO2_RESULTS: ReadonlyMap<number, { name: string; message: string }> = new Map([
  [-1, { name: 'GP_ERROR', message: 'generic error (see the "###" line the library printed on stderr)' }],
  [-2, { name: 'GP_ERROR_BAD_PARAMETERS', message: 'bad parameters passed to the library' }],
  [-3, { name: 'GP_ERROR_NO_MEMORY', message: 'out of memory' }],
  [-4, { name: 'GP_ERROR_LIBRARY', message: 'error in the camera driver' }],
  [-5, { name: 'GP_ERROR_UNKNOWN_PORT', message: 'unknown port (check camera.port against `gphoto2 --auto-detect`)' }],
  [-6, { name: 'GP_ERROR_NOT_SUPPORTED', message: 'not supported by this camera (it may not support remote capture)' }],
  [-7, { name: 'GP_ERROR_IO', message: 'I/O error talking to the camera (cable, power, or the camera went to sleep)' }],
  [-8, { name: 'GP_ERROR_FIXED_LIMIT_EXCEEDED', message: 'internal buffer overflow in the library' }],
  [-10, { name: 'GP_ERROR_TIMEOUT', message: 'the camera did not answer in time' }],
  [-20, { name: 'GP_ERROR_IO_SUPPORTED_SERIAL', message: 'serial ports not supported by this build' }],
  [-21, { name: 'GP_ERROR_IO_SUPPORTED_USB', message: 'USB ports not supported by this build' }],
  [-31, { name: 'GP_ERROR_IO_INIT', message: 'could not initialise the port' }],
  [-34, { name: 'GP_ERROR_IO_READ', message: 'read from the camera failed' }],
  [-35, { name: 'GP_ERROR_IO_WRITE', message: 'write to the camera failed' }],
  [-37, { name: 'GP_ERROR_IO_UPDATE', message: 'updating port settings failed' }],
  [-41, { name: 'GP_ERROR_IO_SERIAL_SPEED', message: 'serial speed not possible' }],
  [-51, { name: 'GP_ERROR_IO_USB_CLEAR_HALT', message: 'USB clear-halt failed' }],
  [-52, { name: 'GP_ERROR_IO_USB_FIND', message: 'USB device not found (unplugged or powered off)' }],
  [
    -53,
    {
      name: 'GP_ERROR_IO_USB_CLAIM',
      message:
        'could not claim the USB device: another process holds it (often gvfs-gphoto2-volume-monitor) or no permission',
    },
  ],
  [-60, { name: 'GP_ERROR_IO_LOCK', message: 'could not lock the device (in use by another process)' }],
  [-70, { name: 'GP_ERROR_HAL', message: 'error talking to HAL' }],
  [-102, { name: 'GP_ERROR_CORRUPTED_DATA', message: 'corrupted data received from the camera' }],
  [-103, { name: 'GP_ERROR_FILE_EXISTS', message: 'file already exists' }],
  [-105, { name: 'GP_ERROR_MODEL_NOT_FOUND', message: 'camera model not known to this libgphoto2' }],
  [-107, { name: 'GP_ERROR_DIRECTORY_NOT_FOUND', message: 'directory not found on the camera' }],
  [-108, { name: 'GP_ERROR_FILE_NOT_FOUND', message: 'file not found on the camera' }],
  [-109, { name: 'GP_ERROR_DIRECTORY_EXISTS', message: 'directory already exists on the camera' }],
  [-110, { name: 'GP_ERROR_CAMERA_BUSY', message: 'camera busy (still writing the previous image, or autofocus)' }],
  [-111, { name: 'GP_ERROR_PATH_NOT_ABSOLUTE', message: 'path not absolute' }],
  [-112, { name: 'GP_ERROR_CANCEL', message: 'operation cancelled' }],
  [-113, { name: 'GP_ERROR_CAMERA_ERROR', message: 'the camera reported an error (e.g. autofocus failed, no card)' }],
  [-114, { name: 'GP_ERROR_OS_FAILURE', message: 'operating system error' }],
  [-115, { name: 'GP_ERROR_NO_SPACE', message: 'no space left on the camera card' }],
]);

/** Results after which the camera handle is stale (unplugged, re-enumerated, claimed): re-detect before the next capture. */
export const GPHOTO2_CONNECTION_RESULTS: ReadonlySet<number> = new Set([-7, -31, -34, -35, -51, -52, -53, -60]);

/** The raw libgphoto2 result, kept as the `cause` of the LinesideError so logs show both. */
export class Gphoto2ResultError extends Error {
  readonly result: number;
  readonly resultName: string;

  constructor(result: number, operation: string) {
    const known = GPHOTO2_RESULTS.get(result);
    const resultName = known?.name ?? 'GP_ERROR_UNKNOWN';
    super(`${operation}: ${resultName} (${result}): ${known?.message ?? 'unknown libgphoto2 result'}`);
    this.name = 'Gphoto2ResultError';
    this.result = result;
    this.resultName = resultName;
  }
}

/** A typed error for a libgphoto2 result. The library's own timeout is a camera timeout; everything else a camera error. */
export function gphoto2Error(
  result: number,
  operation: string,
  code: Extract<ErrorCode, 'LS_CAMERA_ERROR' | 'LS_CAMERA_NOT_FOUND'> = 'LS_CAMERA_ERROR',
): LinesideError {
  const cause = new Gphoto2ResultError(result, operation);
  return new LinesideError(result === -10 && code === 'LS_CAMERA_ERROR' ? 'LS_CAMERA_TIMEOUT' : code, cause.message, {
    cause,
  });
}
