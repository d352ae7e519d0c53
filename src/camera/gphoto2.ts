import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import type { Gphoto2CameraConfig } from '../config/sections/camera.js';
import { LinesideError, errorMessage, isLinesideError } from '../errors.js';
import { withCaptureDeadline } from './capture-deadline.js';
import { GPHOTO2_CONNECTION_RESULTS, Gphoto2ResultError, gphoto2Error } from './gphoto2-result.js';
import { SerialQueue } from './serial-queue.js';
import type { Camera, CapturedImage } from '../domain/ports.js';

/** The part of node-gphoto2 0.3.2 we use. Errors reach callbacks as negative libgphoto2 result integers. */
export interface Gphoto2NativeCamera {
  readonly model: string;
  readonly port: string;
  getConfig(callback: (err: number | undefined, settings?: unknown) => void): void;
  takePicture(
    options: { download: boolean; keep?: boolean },
    callback: (err: number | undefined, data?: Buffer | string) => void,
  ): void;
}

export interface Gphoto2Instance {
  list(callback: (cameras: Gphoto2NativeCamera[]) => void): void;
}

export interface Gphoto2Module {
  GPhoto2: new () => Gphoto2Instance;
}

/** Detecting and opening a camera over USB takes longer than one capture; this bounds it at start. */
export const GPHOTO2_START_TIMEOUT_MS = 15_000;

/**
 * Loads node-gphoto2 on first use: it is an optional dependency with a native addon, and a daemon configured
 * for another camera type must not need it. Missing or unloadable -> LS_CAMERA_NOT_FOUND saying how to fix it.
 */
export function loadGphoto2Module(moduleId = 'gphoto2'): Gphoto2Module {
  let loaded: unknown;
  try {
    loaded = createRequire(import.meta.url)(moduleId);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND';
    throw new LinesideError(
      'LS_CAMERA_NOT_FOUND',
      missing
        ? `gphoto2 camera: the optional module "${moduleId}" is not installed; install libgphoto2-dev and a C++ toolchain, then \`npm install ${moduleId}\``
        : `gphoto2 camera: the module "${moduleId}" failed to load (rebuild it for this Node.js with \`npm rebuild ${moduleId}\`): ${errorMessage(err)}`,
      { cause: err },
    );
  }
  if (typeof (loaded as Partial<Gphoto2Module> | null)?.GPhoto2 !== 'function') {
    throw new LinesideError('LS_CAMERA_NOT_FOUND', `gphoto2 camera: "${moduleId}" does not export a GPhoto2 class`);
  }
  return loaded as Gphoto2Module;
}

export interface Gphoto2CameraDeps {
  config: Gphoto2CameraConfig;
  logger: Logger;
  /** Where node-gphoto2 comes from; tests pass a fake, the daemon the real (lazily loaded) module. */
  loadModule?: () => Gphoto2Module;
  /** Captures allowed to wait behind a running one before further captures are refused at once. Default 4. */
  maxWaiting?: number;
}

function describeCamera(camera: Gphoto2NativeCamera): string {
  return `"${camera.model}" on ${camera.port}`;
}

function takePicture(camera: Gphoto2NativeCamera, keep: boolean): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    // download: true without targetPath keeps the file in memory (gp_file_new): no temp file is ever written.
    camera.takePicture({ download: true, keep }, (err, data) => {
      if (typeof err === 'number') {
        reject(gphoto2Error(err, 'capture'));
      } else if (!Buffer.isBuffer(data) || data.length === 0) {
        // node-gphoto2 hands back the camera path instead of a buffer when the downloaded file was empty.
        reject(new LinesideError('LS_CAMERA_ERROR', 'gphoto2 capture: the camera returned no image data'));
      } else {
        resolve(data);
      }
    });
  });
}

/**
 * A USB/PTP camera through libgphoto2 (node-gphoto2 0.3.2).
 *
 * Calls are serialised here, one native call at a time. node-gphoto2 runs each call on the libuv thread pool
 * (4 threads, shared with fs and dns) behind a per-camera mutex: a second call behind a hung one would park a
 * pool thread on that mutex, and a few more would starve the whole process's file I/O. So a capture whose deadline
 * passes rejects at once, but the queue stays blocked until the native call really returns; captures behind it
 * wait and time out themselves, and at most `maxWaiting` may wait.
 *
 * Native output: node-gphoto2 registers libgphoto2 context error/status handlers that fprintf "### <message>"
 * to stderr; no JS API removes them. We never call setLogLevel, so no libgphoto2 debug log handler exists and the
 * library's debug log is never produced (0.3.2 also never unregisters that handler: it would outlive a stopped
 * camera). stdout, where pino writes JSON, stays clean; docs/cameras.md says how systemd keeps stderr apart.
 */
export class Gphoto2Camera implements Camera {
  readonly type = 'gphoto2';
  readonly #deps: Gphoto2CameraDeps;
  #gphoto: Gphoto2Instance | null = null;
  #camera: Gphoto2NativeCamera | null = null;
  #queue: SerialQueue | null = null;
  #hungWarned = false;

  constructor(deps: Gphoto2CameraDeps) {
    this.#deps = deps;
  }

  /** The selected camera, e.g. `"Nikon DSC D5300" on usb:001,004`; null before start or while re-detecting. */
  get selected(): string | null {
    return this.#camera === null ? null : describeCamera(this.#camera);
  }

  async start(signal: AbortSignal): Promise<void> {
    const module = (this.#deps.loadModule ?? loadGphoto2Module)();
    this.#gphoto = new module.GPhoto2();
    const queue = new SerialQueue({ maxWaiting: this.#deps.maxWaiting ?? 4, what: 'gphoto2 camera' });
    this.#queue = queue;
    try {
      await withCaptureDeadline(
        (deadline) =>
          queue.run(async () => {
            const camera = await this.#detect('LS_CAMERA_NOT_FOUND');
            await this.#open(camera);
            this.#camera = camera;
          }, deadline),
        { timeoutMs: Math.max(GPHOTO2_START_TIMEOUT_MS, this.#deps.config.timeout_ms), signal, what: 'gphoto2 camera' },
      );
    } catch (err) {
      if (isLinesideError(err) && err.code === 'LS_CAMERA_TIMEOUT') {
        throw new LinesideError('LS_CAMERA_NOT_FOUND', `gphoto2 camera: not opened at start: ${err.message}`, {
          cause: err,
        });
      }
      throw err;
    }
    this.#deps.logger.info({ camera: this.selected }, 'gphoto2 camera ready');
  }

  async stop(): Promise<void> {
    const queue = this.#queue;
    this.#queue = null;
    if (queue !== null) {
      await queue.close(new LinesideError('LS_CAMERA_ERROR', 'gphoto2 camera: stopped'), this.#deps.config.timeout_ms);
    }
    // node-gphoto2 has no close(): the camera is released (gp_camera_exit) when the object is garbage-collected.
    this.#camera = null;
    this.#gphoto = null;
  }

  capture(signal: AbortSignal): Promise<CapturedImage> {
    const queue = this.#queue;
    if (queue === null) {
      return Promise.reject(
        new LinesideError('LS_CAMERA_ERROR', 'gphoto2 camera: capture before start (or after stop)'),
      );
    }
    const timeoutMs = this.#deps.config.timeout_ms;
    return withCaptureDeadline((deadline) => queue.run(() => this.#captureOnce(), deadline), {
      timeoutMs,
      signal,
      what: 'gphoto2 camera',
    }).catch((err: unknown) => {
      const runningForMs = queue.runningForMs();
      if (runningForMs !== null && runningForMs > timeoutMs && !this.#hungWarned) {
        this.#hungWarned = true;
        this.#deps.logger.warn(
          { runningForMs, waiting: queue.waiting },
          'gphoto2 call has not returned; captures time out behind it until it does',
        );
      }
      throw err;
    });
  }

  async #captureOnce(): Promise<CapturedImage> {
    if (this.#camera === null) {
      const camera = await this.#detect('LS_CAMERA_ERROR');
      this.#deps.logger.info({ camera: describeCamera(camera) }, 'gphoto2 camera re-detected');
      this.#camera = camera;
    }
    const camera = this.#camera;
    const startedMs = Date.now();
    try {
      const data = await takePicture(camera, this.#deps.config.keep_on_camera);
      return { data, source: `gphoto2 ${describeCamera(camera)}` };
    } catch (err) {
      if (err instanceof LinesideError && err.cause instanceof Gphoto2ResultError) {
        if (GPHOTO2_CONNECTION_RESULTS.has(err.cause.result)) {
          // After unplug/replug the camera has a new port; the old handle would fail forever.
          this.#camera = null;
          this.#deps.logger.warn(
            { err },
            'gphoto2 connection error: the camera will be re-detected on the next capture',
          );
        }
      }
      throw err;
    } finally {
      const tookMs = Date.now() - startedMs;
      if (this.#hungWarned || tookMs > this.#deps.config.timeout_ms) {
        this.#hungWarned = false;
        this.#deps.logger.warn({ tookMs }, 'gphoto2 call returned after its capture deadline');
      }
    }
  }

  #list(): Promise<Gphoto2NativeCamera[]> {
    const gphoto = this.#gphoto;
    if (gphoto === null) return Promise.reject(new LinesideError('LS_CAMERA_ERROR', 'gphoto2 camera: stopped'));
    return new Promise((resolve) => gphoto.list(resolve));
  }

  async #detect(code: 'LS_CAMERA_NOT_FOUND' | 'LS_CAMERA_ERROR'): Promise<Gphoto2NativeCamera> {
    const { model, port } = this.#deps.config;
    const cameras = await this.#list();
    const match = cameras.find(
      (camera) => (model === undefined || camera.model === model) && (port === undefined || camera.port === port),
    );
    if (match !== undefined) return match;
    const wanted = [model && `model "${model}"`, port && `port ${port}`].filter(Boolean).join(' on ') || 'any camera';
    const found = cameras.length === 0 ? 'no camera detected' : `detected: ${cameras.map(describeCamera).join(', ')}`;
    throw new LinesideError(code, `gphoto2 camera: ${wanted} not found (${found}); check \`gphoto2 --auto-detect\``);
  }

  /** getConfig makes libgphoto2 initialise the camera and claim its USB interface, so start fails now, not at the first part. */
  #open(camera: Gphoto2NativeCamera): Promise<void> {
    return new Promise((resolve, reject) => {
      camera.getConfig((err) => {
        // GP_ERROR_NOT_SUPPORTED: opened fine, it just has no settings (e.g. mass-storage cameras).
        if (typeof err === 'number' && err !== -6) {
          reject(gphoto2Error(err, `open ${describeCamera(camera)}`, 'LS_CAMERA_NOT_FOUND'));
        } else {
          resolve();
        }
      });
    });
  }
}
