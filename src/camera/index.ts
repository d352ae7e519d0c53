import type { Logger } from 'pino';
import type { CameraConfig } from '../config/sections/camera.js';
import { LinesideError } from '../errors.js';
import { FolderCamera } from './folder.js';
import { Gphoto2Camera, type Gphoto2Module } from './gphoto2.js';
import { HttpCamera } from './http.js';
import type { Camera } from '../domain/ports.js';

export type { Camera, CapturedImage } from '../domain/ports.js';
export type { Label } from '../domain/part.js';
export { FolderCamera } from './folder.js';
export { Gphoto2Camera, loadGphoto2Module } from './gphoto2.js';
export { HttpCamera } from './http.js';

export interface CameraDeps {
  logger: Logger;
  /** Relative paths in the camera config (the folder camera's `path`) resolve against this: the config file's directory. */
  baseDir: string;
  /** Environment for secrets (http `password_env`, CREDENTIALS_DIRECTORY); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Replaces the lazily required node-gphoto2 module (tests). */
  loadGphoto2?: () => Gphoto2Module;
}

type Factory<T extends CameraConfig['type']> = (config: Extract<CameraConfig, { type: T }>, deps: CameraDeps) => Camera;

const FACTORIES: { [T in CameraConfig['type']]: Factory<T> } = {
  folder: (config, deps) => new FolderCamera({ config, logger: deps.logger, baseDir: deps.baseDir }),
  gphoto2: (config, deps) =>
    new Gphoto2Camera(
      deps.loadGphoto2 === undefined
        ? { config, logger: deps.logger }
        : { config, logger: deps.logger, loadModule: deps.loadGphoto2 },
    ),
  http: (config, deps) =>
    new HttpCamera(
      deps.env === undefined ? { config, logger: deps.logger } : { config, logger: deps.logger, env: deps.env },
    ),
};

export const CAMERA_TYPES = Object.keys(FACTORIES) as ReadonlyArray<CameraConfig['type']>;

/** Builds the configured camera (not started). Nothing is opened or loaded until `start`. */
export function createCamera(config: CameraConfig, deps: CameraDeps): Camera {
  const type: string = config.type;
  if (!Object.hasOwn(FACTORIES, type)) {
    throw new LinesideError(
      'LS_CONFIG_INVALID',
      `camera.type: must be one of ${CAMERA_TYPES.map((t) => JSON.stringify(t)).join(', ')} (got ${JSON.stringify(type)})`,
    );
  }
  const factory = FACTORIES[config.type] as Factory<CameraConfig['type']>;
  return factory(config, deps);
}
