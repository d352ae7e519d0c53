import { describe, expect, it } from 'vitest';
import { CAMERA_TYPES, FolderCamera, Gphoto2Camera, HttpCamera, createCamera } from '../../../src/camera/index.js';
import { cameraSection, type CameraConfig } from '../../../src/config/sections/camera.js';
import { DATASET_DIR, memoryLogger } from './helpers.js';
import path from 'node:path';

const never = new AbortController().signal;

describe('camera registry', () => {
  const deps = { logger: memoryLogger().logger, baseDir: path.dirname(DATASET_DIR) };

  it('maps each config type to its driver, touching no hardware or module until start', () => {
    const folder = createCamera(cameraSection.parse({ type: 'folder', path: 'train' }), deps);
    const gphoto2 = createCamera(cameraSection.parse({ type: 'gphoto2' }), {
      ...deps,
      loadGphoto2: () => {
        throw new Error('loaded before start');
      },
    });
    const http = createCamera(cameraSection.parse({ type: 'http', url: 'http://127.0.0.1:9/snap.jpg' }), deps);
    expect(folder).toBeInstanceOf(FolderCamera);
    expect(gphoto2).toBeInstanceOf(Gphoto2Camera);
    expect(http).toBeInstanceOf(HttpCamera);
    expect([folder.type, gphoto2.type, http.type]).toEqual(['folder', 'gphoto2', 'http']);
    expect(CAMERA_TYPES).toEqual(['folder', 'gphoto2', 'http']);
  });

  it('resolves the folder path against baseDir and captures a labelled dataset image', async () => {
    const camera = createCamera(cameraSection.parse({ type: 'folder', path: 'train', order: 'sequential' }), deps);
    await camera.start(never);
    expect(await camera.capture(never)).toMatchObject({
      label: 'defective',
      source: path.join(DATASET_DIR, 'def_front', 'cast_def_0_0.jpeg'),
    });
    await camera.stop();
  });

  it('an unknown type is LS_CONFIG_INVALID listing the valid ones', () => {
    const bogus = { type: 'webcam', timeout_ms: 2000 } as unknown as CameraConfig;
    expect(() => createCamera(bogus, deps)).toThrow(
      expect.objectContaining({
        code: 'LS_CONFIG_INVALID',
        message: 'camera.type: must be one of "folder", "gphoto2", "http" (got "webcam")',
      }),
    );
    const inherited = { type: 'toString' } as unknown as CameraConfig;
    expect(() => createCamera(inherited, deps)).toThrow(expect.objectContaining({ code: 'LS_CONFIG_INVALID' }));
  });

  it('the gphoto2 driver passes the injected module loader through', async () => {
    const camera = createCamera(cameraSection.parse({ type: 'gphoto2' }), {
      ...deps,
      loadGphoto2: () => ({
        GPhoto2: class {
          list(callback: (cameras: never[]) => void): void {
            setImmediate(() => callback([]));
          }
        },
      }),
    });
    await expect(camera.start(never)).rejects.toMatchObject({
      code: 'LS_CAMERA_NOT_FOUND',
      message: expect.stringContaining('no camera detected'),
    });
  });
});

describe('camera config section', () => {
  it('fills defaults with units', () => {
    expect(cameraSection.parse({ type: 'folder', path: 'x' })).toEqual({
      type: 'folder',
      path: 'x',
      order: 'shuffle',
      seed: 1,
      loop: true,
      timeout_ms: 2000,
    });
    expect(cameraSection.parse({ type: 'gphoto2' })).toEqual({
      type: 'gphoto2',
      keep_on_camera: false,
      timeout_ms: 2000,
    });
    expect(cameraSection.parse({ type: 'http', url: 'https://cam.local/snap.jpg' })).toEqual({
      type: 'http',
      url: 'https://cam.local/snap.jpg',
      password_env: 'LINESIDE_CAMERA_PASSWORD',
      max_bytes: 32 * 1024 * 1024,
      timeout_ms: 2000,
    });
  });

  it('rejects unknown keys, non-http URLs and out-of-range timeouts', () => {
    expect(cameraSection.safeParse({ type: 'folder', path: 'x', recursive: true }).success).toBe(false);
    expect(cameraSection.safeParse({ type: 'http', url: 'ftp://cam.local/snap.jpg' }).success).toBe(false);
    expect(cameraSection.safeParse({ type: 'http', url: 'rtsp://cam.local/stream' }).success).toBe(false);
    expect(cameraSection.safeParse({ type: 'gphoto2', timeout_ms: 5 }).success).toBe(false);
    expect(cameraSection.safeParse({ type: 'gphoto2', timeout_ms: 60_001 }).success).toBe(false);
  });
});
