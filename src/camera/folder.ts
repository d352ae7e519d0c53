import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { FolderCameraConfig } from '../config/sections/camera.js';
import { LinesideError, errorMessage } from '../errors.js';
import { readRegularFile } from '../regular-file.js';
import { withCaptureDeadline } from './capture-deadline.js';
import type { Camera, CapturedImage } from '../domain/ports.js';
import type { Label } from '../domain/part.js';

/** Extensions sharp decodes; anything else in the folder (notes, CSVs, thumbnails.db) is not a part image. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff']);

/** Sub-folders whose name is the ground truth for every image beneath them. */
const LABEL_FOLDERS: ReadonlyArray<[string, Label]> = [
  ['def_front', 'defective'],
  ['ok_front', 'ok'],
];

export interface FolderImage {
  file: string;
  label?: Label;
}

export interface FolderCameraDeps {
  config: FolderCameraConfig;
  logger: Logger;
  /** Relative `config.path` is resolved against this (the config file's directory). */
  baseDir: string;
}

async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch {
    return false;
  }
}

async function listImages(dir: string, signal: AbortSignal): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  signal.throwIfAborted();
  return (
    entries
      // Symlinks count: recorded runs are often assembled from links into the archive.
      .filter(
        (entry) =>
          (entry.isFile() || entry.isSymbolicLink()) && IMAGE_EXTENSIONS.has(path.extname(entry.name).toLowerCase()),
      )
      .map((entry) => path.join(entry.parentPath, entry.name))
      .sort()
  );
}

/** Every image the folder camera replays: from def_front/ and ok_front/ with labels if either exists, else all. */
export async function scanImageFolder(root: string, signal: AbortSignal): Promise<FolderImage[]> {
  const labelled: FolderImage[] = [];
  let hasLabelFolder = false;
  for (const [name, label] of LABEL_FOLDERS) {
    const dir = path.join(root, name);
    if (!(await isDirectory(dir))) continue;
    hasLabelFolder = true;
    for (const file of await listImages(dir, signal)) labelled.push({ file, label });
  }
  if (hasLabelFolder) return labelled.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return (await listImages(root, signal)).map((file) => ({ file }));
}

/** mulberry32: small, fast, and the same sequence on every platform for a given seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Permutation of 0..count-1 for one pass over the folder; pass `pass` of seed `seed` is always the same. */
export function replayOrder(count: number, order: FolderCameraConfig['order'], seed: number, pass: number): number[] {
  const indices = Array.from({ length: count }, (_, i) => i);
  if (order === 'sequential') return indices;
  const random = seededRandom(Math.imul(seed, 0x9e3779b1) ^ pass);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const swap = indices[i] as number;
    indices[i] = indices[j] as number;
    indices[j] = swap;
  }
  return indices;
}

/**
 * Replays a directory of images as the camera: the simulated line (the casting dataset) and re-runs of recorded
 * production images. Each capture reads its file from disk, so a file removed mid-run fails that one part only.
 * Captures need no serialising: each takes the next image in order when it is called.
 */
export class FolderCamera implements Camera {
  readonly type = 'folder';
  readonly #deps: FolderCameraDeps;
  #images: FolderImage[] = [];
  #order: number[] = [];
  #position = 0;
  #pass = 0;

  constructor(deps: FolderCameraDeps) {
    this.#deps = deps;
  }

  get root(): string {
    return path.resolve(this.#deps.baseDir, this.#deps.config.path);
  }

  /** Images found at start. */
  get imageCount(): number {
    return this.#images.length;
  }

  /** With `loop: false`, true once every image has been handed out (a replay run is complete). */
  get exhausted(): boolean {
    return !this.#deps.config.loop && this.#images.length > 0 && this.#position >= this.#order.length;
  }

  async start(signal: AbortSignal): Promise<void> {
    const root = this.root;
    if (!(await isDirectory(root))) {
      throw new LinesideError('LS_CAMERA_NOT_FOUND', `folder camera: ${root} does not exist or is not a directory`);
    }
    let images: FolderImage[];
    try {
      images = await scanImageFolder(root, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      throw new LinesideError('LS_CAMERA_NOT_FOUND', `folder camera: cannot list ${root}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    if (images.length === 0) {
      throw new LinesideError(
        'LS_CAMERA_NOT_FOUND',
        `folder camera: no images (${[...IMAGE_EXTENSIONS].join(', ')}) in ${root}`,
      );
    }
    this.#images = images;
    this.#pass = 0;
    this.#position = 0;
    this.#order = replayOrder(images.length, this.#deps.config.order, this.#deps.config.seed, 0);
    const labelled = images.filter((image) => image.label !== undefined).length;
    this.#deps.logger.info(
      { root, images: images.length, labelled, order: this.#deps.config.order, loop: this.#deps.config.loop },
      'folder camera ready',
    );
  }

  stop(): Promise<void> {
    this.#images = [];
    this.#order = [];
    return Promise.resolve();
  }

  capture(signal: AbortSignal): Promise<CapturedImage> {
    const image = this.#next();
    if (image instanceof LinesideError) return Promise.reject(image);
    return withCaptureDeadline((deadline) => this.#read(image, deadline), {
      timeoutMs: this.#deps.config.timeout_ms,
      signal,
      what: `folder camera ${image.file}`,
    });
  }

  #next(): FolderImage | LinesideError {
    if (this.#images.length === 0) {
      return new LinesideError('LS_CAMERA_ERROR', 'folder camera: capture before start (or after stop)');
    }
    if (this.#position >= this.#order.length) {
      if (!this.#deps.config.loop) {
        return new LinesideError(
          'LS_CAMERA_ERROR',
          `folder camera: all ${this.#images.length} images replayed and loop is off`,
        );
      }
      this.#pass += 1;
      this.#order = replayOrder(this.#images.length, this.#deps.config.order, this.#deps.config.seed, this.#pass);
      this.#position = 0;
    }
    const index = this.#order[this.#position] as number;
    this.#position += 1;
    return this.#images[index] as FolderImage;
  }

  async #read(image: FolderImage, signal: AbortSignal): Promise<CapturedImage> {
    let data: Buffer;
    try {
      // Regular files only: a FIFO would hold a libuv pool thread for good (regular-file.ts).
      data = await readRegularFile(image.file, { signal });
    } catch (err) {
      throw new LinesideError('LS_CAMERA_ERROR', `folder camera: cannot read ${image.file}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    return image.label === undefined ? { data, source: image.file } : { data, source: image.file, label: image.label };
  }
}
