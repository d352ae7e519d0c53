import { existsSync, readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  Gphoto2Camera,
  loadGphoto2Module,
  type Gphoto2Module,
  type Gphoto2NativeCamera,
} from '../../../src/camera/gphoto2.js';
import { GPHOTO2_RESULTS, Gphoto2ResultError } from '../../../src/camera/gphoto2-result.js';
import { gphoto2Camera, type Gphoto2CameraConfig } from '../../../src/config/sections/camera.js';
import { memoryLogger, skipWithoutGphoto2Addon } from './helpers.js';

type TakeCallback = (err: number | undefined, data?: Buffer | string) => void;
type TakeOptions = { download: boolean; keep?: boolean } & Record<string, unknown>;

/** Stands in for node-gphoto2's native Camera: same callback shapes, behaviour scripted per test. */
class FakeNativeCamera implements Gphoto2NativeCamera {
  readonly takeOptions: TakeOptions[] = [];
  inFlight = 0;
  maxInFlight = 0;
  configResult: number | undefined = undefined;
  configCalls = 0;
  /** Default: answer after 5 ms with a JPEG-like buffer naming this camera. */
  take: (options: TakeOptions, callback: TakeCallback) => void = (_options, callback) => {
    setTimeout(() => callback(undefined, Buffer.from(`\xff\xd8 image from ${this.port}`, 'latin1')), 5);
  };

  constructor(
    readonly model: string,
    readonly port: string,
  ) {}

  getConfig(callback: (err: number | undefined, settings?: unknown) => void): void {
    this.configCalls += 1;
    setImmediate(() => callback(this.configResult, this.configResult === undefined ? { main: {} } : undefined));
  }

  takePicture(options: TakeOptions, callback: TakeCallback): void {
    this.takeOptions.push(options);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.take(options, (err, data) => {
      this.inFlight -= 1;
      callback(err, data);
    });
  }
}

function fakeModule(detected: () => FakeNativeCamera[]): Gphoto2Module & { listCalls: number } {
  const module = {
    listCalls: 0,
    GPhoto2: class {
      list(callback: (cameras: Gphoto2NativeCamera[]) => void): void {
        module.listCalls += 1;
        setImmediate(() => callback(detected()));
      }
    },
  };
  return module;
}

function config(overrides: Partial<Gphoto2CameraConfig> = {}): Gphoto2CameraConfig {
  return gphoto2Camera.parse({ type: 'gphoto2', ...overrides });
}

const never = new AbortController().signal;

describe('gphoto2 camera: selection and start', () => {
  const nikon = new FakeNativeCamera('Nikon DSC D5300', 'usb:001,004');
  const canon1 = new FakeNativeCamera('Canon EOS 2000D', 'usb:001,005');
  const canon2 = new FakeNativeCamera('Canon EOS 2000D', 'usb:001,006');
  const all = () => [nikon, canon1, canon2];

  it('takes the first detected camera when neither model nor port is set', async () => {
    const cam = new Gphoto2Camera({
      config: config(),
      logger: memoryLogger().logger,
      loadModule: () => fakeModule(all),
    });
    await cam.start(never);
    expect(cam.selected).toBe('"Nikon DSC D5300" on usb:001,004');
  });

  it('selects by model, by port, and by both', async () => {
    const byModel = new Gphoto2Camera({
      config: config({ model: 'Canon EOS 2000D' }),
      logger: memoryLogger().logger,
      loadModule: () => fakeModule(all),
    });
    await byModel.start(never);
    expect(byModel.selected).toBe('"Canon EOS 2000D" on usb:001,005');
    const byPort = new Gphoto2Camera({
      config: config({ port: 'usb:001,006' }),
      logger: memoryLogger().logger,
      loadModule: () => fakeModule(all),
    });
    await byPort.start(never);
    expect(byPort.selected).toBe('"Canon EOS 2000D" on usb:001,006');
    const both = new Gphoto2Camera({
      config: config({ model: 'Canon EOS 2000D', port: 'usb:001,006' }),
      logger: memoryLogger().logger,
      loadModule: () => fakeModule(all),
    });
    await both.start(never);
    expect((await both.capture(never)).source).toBe('gphoto2 "Canon EOS 2000D" on usb:001,006');
  });

  it('start fails with LS_CAMERA_NOT_FOUND naming what was detected', async () => {
    const cam = new Gphoto2Camera({
      config: config({ model: 'Nikon DSC D5300', port: 'usb:002,001' }),
      logger: memoryLogger().logger,
      loadModule: () => fakeModule(all),
    });
    await expect(cam.start(never)).rejects.toMatchObject({
      code: 'LS_CAMERA_NOT_FOUND',
      message: expect.stringMatching(
        /model "Nikon DSC D5300" on port usb:002,001 not found \(detected: "Nikon DSC D5300" on usb:001,004,/,
      ),
    });
    const none = new Gphoto2Camera({
      config: config(),
      logger: memoryLogger().logger,
      loadModule: () => fakeModule(() => []),
    });
    await expect(none.start(never)).rejects.toMatchObject({
      code: 'LS_CAMERA_NOT_FOUND',
      message: expect.stringContaining('no camera detected'),
    });
  });

  it('opens the camera at start: a claimed USB device fails start with GP_ERROR_IO_USB_CLAIM', async () => {
    const claimed = new FakeNativeCamera('Nikon DSC D5300', 'usb:001,004');
    claimed.configResult = -53;
    const cam = new Gphoto2Camera({
      config: config(),
      logger: memoryLogger().logger,
      loadModule: () => fakeModule(() => [claimed]),
    });
    const err: unknown = await cam.start(never).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'LS_CAMERA_NOT_FOUND',
      message: expect.stringContaining('GP_ERROR_IO_USB_CLAIM (-53)'),
    });
    expect((err as Error).cause).toBeInstanceOf(Gphoto2ResultError);
    expect(claimed.configCalls).toBe(1);
  });

  it('a camera without settings (GP_ERROR_NOT_SUPPORTED from getConfig) still opens', async () => {
    const mass = new FakeNativeCamera('Mass Storage Camera', 'disk:/media/card');
    mass.configResult = -6;
    const cam = new Gphoto2Camera({
      config: config(),
      logger: memoryLogger().logger,
      loadModule: () => fakeModule(() => [mass]),
    });
    await cam.start(never);
    expect(cam.selected).toBe('"Mass Storage Camera" on disk:/media/card');
  });

  it('start rejects with LS_CAMERA_NOT_FOUND when the module cannot be loaded', async () => {
    const cam = new Gphoto2Camera({
      config: config(),
      logger: memoryLogger().logger,
      loadModule: () => loadGphoto2Module('gphoto2-module-that-is-not-installed'),
    });
    await expect(cam.start(never)).rejects.toMatchObject({
      code: 'LS_CAMERA_NOT_FOUND',
      message: expect.stringContaining('optional module "gphoto2-module-that-is-not-installed" is not installed'),
    });
  });

  it('loads the real node-gphoto2 module (installed and built here) without starting anything', (ctx) => {
    skipWithoutGphoto2Addon(ctx);
    const module = loadGphoto2Module();
    expect(typeof module.GPhoto2).toBe('function');
    expect(typeof new module.GPhoto2().list).toBe('function');
  });
});

describe('gphoto2 camera: capture', () => {
  it('downloads into memory: download true, keep per config, never a targetPath or socket (no temp files)', async () => {
    const native = new FakeNativeCamera('Nikon DSC D5300', 'usb:001,004');
    const cam = new Gphoto2Camera({
      config: config(),
      logger: memoryLogger().logger,
      loadModule: () => fakeModule(() => [native]),
    });
    await cam.start(never);
    const image = await cam.capture(never);
    expect(image.data.toString('latin1')).toBe('\xff\xd8 image from usb:001,004');
    expect(native.takeOptions).toEqual([{ download: true, keep: false }]);

    const keeping = new FakeNativeCamera('Nikon DSC D5300', 'usb:001,004');
    const keep = new Gphoto2Camera({
      config: config({ keep_on_camera: true }),
      logger: memoryLogger().logger,
      loadModule: () => fakeModule(() => [keeping]),
    });
    await keep.start(never);
    await keep.capture(never);
    expect(keeping.takeOptions).toEqual([{ download: true, keep: true }]);
    for (const options of [...native.takeOptions, ...keeping.takeOptions]) {
      expect(options).not.toHaveProperty('targetPath');
      expect(options).not.toHaveProperty('socket');
      expect(options).not.toHaveProperty('preview');
    }
  });

  it('serialises concurrent captures: one native call at a time, answered in call order', async () => {
    const native = new FakeNativeCamera('Nikon DSC D5300', 'usb:001,004');
    let n = 0;
    native.take = (_options, callback) => {
      const mine = ++n;
      setTimeout(() => callback(undefined, Buffer.from(`image ${mine}`)), 10 - mine);
    };
    const cam = new Gphoto2Camera({
      config: config(),
      logger: memoryLogger().logger,
      loadModule: () => fakeModule(() => [native]),
      maxWaiting: 10,
    });
    await cam.start(never);
    const images = await Promise.all([1, 2, 3, 4, 5].map(() => cam.capture(never)));
    expect(images.map((image) => image.data.toString())).toEqual([
      'image 1',
      'image 2',
      'image 3',
      'image 4',
      'image 5',
    ]);
    expect(native.maxInFlight).toBe(1);
  });

  it.each([
    [-1, 'GP_ERROR', 'LS_CAMERA_ERROR'],
    [-7, 'GP_ERROR_IO', 'LS_CAMERA_ERROR'],
    [-52, 'GP_ERROR_IO_USB_FIND', 'LS_CAMERA_ERROR'],
    [-105, 'GP_ERROR_MODEL_NOT_FOUND', 'LS_CAMERA_ERROR'],
    [-110, 'GP_ERROR_CAMERA_BUSY', 'LS_CAMERA_ERROR'],
    [-113, 'GP_ERROR_CAMERA_ERROR', 'LS_CAMERA_ERROR'],
    [-10, 'GP_ERROR_TIMEOUT', 'LS_CAMERA_TIMEOUT'],
    [-999, 'GP_ERROR_UNKNOWN', 'LS_CAMERA_ERROR'],
  ])('maps libgphoto2 result %i to %s as %s', async (result, name, code) => {
    const native = new FakeNativeCamera('Nikon DSC D5300', 'usb:001,004');
    native.take = (_options, callback) => setImmediate(() => callback(result));
    const cam = new Gphoto2Camera({
      config: config(),
      logger: memoryLogger().logger,
      loadModule: () => fakeModule(() => [native]),
    });
    await cam.start(never);
    const err: unknown = await cam.capture(never).catch((e: unknown) => e);
    expect(err).toMatchObject({ code, message: expect.stringContaining(`capture: ${name} (${result})`) });
    expect((err as Error).cause).toMatchObject({ result, resultName: name });
  });

  it('empty data (node-gphoto2 then passes the camera path string) is LS_CAMERA_ERROR, not an empty image', async () => {
    const native = new FakeNativeCamera('Nikon DSC D5300', 'usb:001,004');
    native.take = (_options, callback) => setImmediate(() => callback(undefined, '/capt0000.jpg'));
    const cam = new Gphoto2Camera({
      config: config(),
      logger: memoryLogger().logger,
      loadModule: () => fakeModule(() => [native]),
    });
    await cam.start(never);
    await expect(cam.capture(never)).rejects.toMatchObject({
      code: 'LS_CAMERA_ERROR',
      message: 'gphoto2 capture: the camera returned no image data',
    });
    native.take = (_options, callback) => setImmediate(() => callback(undefined, Buffer.alloc(0)));
    await expect(cam.capture(never)).rejects.toMatchObject({ code: 'LS_CAMERA_ERROR' });
  });

  it('after a connection error re-detects the camera (replugged on a new port) on the next capture', async () => {
    const before = new FakeNativeCamera('Nikon DSC D5300', 'usb:001,004');
    const after = new FakeNativeCamera('Nikon DSC D5300', 'usb:001,009');
    let detected = [before];
    before.take = (_options, callback) => setImmediate(() => callback(-52));
    const log = memoryLogger();
    const module = fakeModule(() => detected);
    const cam = new Gphoto2Camera({
      config: config({ model: 'Nikon DSC D5300' }),
      logger: log.logger,
      loadModule: () => module,
    });
    await cam.start(never);
    await expect(cam.capture(never)).rejects.toMatchObject({
      message: expect.stringContaining('GP_ERROR_IO_USB_FIND'),
    });
    expect(cam.selected).toBeNull();
    detected = [];
    await expect(cam.capture(never)).rejects.toMatchObject({
      code: 'LS_CAMERA_ERROR',
      message: expect.stringContaining('no camera detected'),
    });
    detected = [after];
    expect((await cam.capture(never)).source).toBe('gphoto2 "Nikon DSC D5300" on usb:001,009');
    expect(module.listCalls).toBe(3);
    expect(log.entries().some((e) => e.msg === 'gphoto2 camera re-detected')).toBe(true);
  });

  it('a camera-side error (busy) keeps the camera selected', async () => {
    const native = new FakeNativeCamera('Nikon DSC D5300', 'usb:001,004');
    native.take = (_options, callback) => setImmediate(() => callback(-110));
    const module = fakeModule(() => [native]);
    const cam = new Gphoto2Camera({ config: config(), logger: memoryLogger().logger, loadModule: () => module });
    await cam.start(never);
    await expect(cam.capture(never)).rejects.toMatchObject({ code: 'LS_CAMERA_ERROR' });
    expect(cam.selected).toBe('"Nikon DSC D5300" on usb:001,004');
    expect(module.listCalls).toBe(1);
  });

  it('capture before start and after stop is LS_CAMERA_ERROR', async () => {
    const native = new FakeNativeCamera('Nikon DSC D5300', 'usb:001,004');
    const cam = new Gphoto2Camera({
      config: config(),
      logger: memoryLogger().logger,
      loadModule: () => fakeModule(() => [native]),
    });
    await expect(cam.capture(never)).rejects.toMatchObject({ code: 'LS_CAMERA_ERROR' });
    await cam.start(never);
    await cam.stop();
    await expect(cam.capture(never)).rejects.toMatchObject({ code: 'LS_CAMERA_ERROR' });
  });
});

describe('gphoto2 camera: a hung native call', () => {
  beforeEach(() => {
    // setImmediate stays real: the fake module answers list/getConfig on it.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('times out promptly, keeps later captures from reaching the camera, bounds the waiters, and recovers', async () => {
    const native = new FakeNativeCamera('Nikon DSC D5300', 'usb:001,004');
    const hung: TakeCallback[] = [];
    native.take = (_options, callback) => {
      hung.push(callback);
    };
    native.configResult = undefined;
    const log = memoryLogger();
    const cam = new Gphoto2Camera({
      config: config({ timeout_ms: 500 }),
      logger: log.logger,
      loadModule: () => fakeModule(() => [native]),
      maxWaiting: 2,
    });
    await cam.start(never);

    const outcomes: Array<{ at: number; code: unknown }> = [];
    const t0 = Date.now();
    const track = (p: Promise<unknown>): Promise<void> =>
      p.then(
        () => {
          outcomes.push({ at: Date.now() - t0, code: 'ok' });
        },
        (err: { code?: unknown }) => {
          outcomes.push({ at: Date.now() - t0, code: err.code });
        },
      );

    const first = track(cam.capture(never));
    await vi.advanceTimersByTimeAsync(100);
    const second = track(cam.capture(never));
    const third = track(cam.capture(never));
    const fourth = track(cam.capture(never));
    await vi.advanceTimersByTimeAsync(0);
    // Two may wait behind the hung call; the fourth is refused at once.
    expect(outcomes).toEqual([{ at: 100, code: 'LS_CAMERA_TIMEOUT' }]);
    await vi.advanceTimersByTimeAsync(400);
    await first;
    expect(outcomes[1]).toEqual({ at: 500, code: 'LS_CAMERA_TIMEOUT' });
    await vi.advanceTimersByTimeAsync(100);
    await Promise.all([second, third, fourth]);
    expect(outcomes.slice(2)).toEqual([
      { at: 600, code: 'LS_CAMERA_TIMEOUT' },
      { at: 600, code: 'LS_CAMERA_TIMEOUT' },
    ]);
    // Still only the one native call: nothing piled up behind it in the thread pool.
    expect(hung).toHaveLength(1);
    expect(
      log.entries().filter((e) => e.msg === 'gphoto2 call has not returned; captures time out behind it until it does'),
    ).toHaveLength(1);

    // Later captures keep timing out (not piling up) until the native call returns...
    const fifth = cam.capture(never).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(500);
    expect(await fifth).toMatchObject({ code: 'LS_CAMERA_TIMEOUT' });
    expect(hung).toHaveLength(1);

    // ...then the camera is used again.
    hung[0]?.(undefined, Buffer.from('late image'));
    await vi.advanceTimersByTimeAsync(0);
    expect(log.entries().some((e) => e.msg === 'gphoto2 call returned after its capture deadline')).toBe(true);
    native.take = (_options, callback) => setTimeout(() => callback(undefined, Buffer.from('fresh image')), 50);
    const sixth = cam.capture(never);
    await vi.advanceTimersByTimeAsync(50);
    expect((await sixth).data.toString()).toBe('fresh image');
  });

  it('stop does not hang on a hung call: bounded by timeout_ms, waiting captures fail', async () => {
    const native = new FakeNativeCamera('Nikon DSC D5300', 'usb:001,004');
    native.take = () => undefined;
    const cam = new Gphoto2Camera({
      config: config({ timeout_ms: 300 }),
      logger: memoryLogger().logger,
      loadModule: () => fakeModule(() => [native]),
    });
    await cam.start(never);
    const caller = new AbortController();
    const inFlight = cam.capture(caller.signal).catch((e: unknown) => e);
    const waiting = cam.capture(never).catch((e: unknown) => e);
    const stopped = vi.fn();
    void cam.stop().then(stopped);
    await vi.advanceTimersByTimeAsync(0);
    expect(await waiting).toMatchObject({ code: 'LS_CAMERA_ERROR', message: 'gphoto2 camera: stopped' });
    caller.abort();
    expect(await inFlight).toMatchObject({ code: 'LS_CAMERA_TIMEOUT' });
    await vi.advanceTimersByTimeAsync(300);
    expect(stopped).toHaveBeenCalledOnce();
  });
});

describe('gphoto2 result table', () => {
  const headers = ['/usr/include/gphoto2/gphoto2-port-result.h', '/usr/include/gphoto2/gphoto2-result.h'];

  it.skipIf(!headers.every((file) => existsSync(file)))('matches the libgphoto2 headers installed here', () => {
    const defined = new Map<number, string>();
    for (const file of headers) {
      for (const match of readFileSync(file, 'utf8').matchAll(/^#define\s+(GP_ERROR\w*)\s+(-\d+)/gm)) {
        defined.set(Number(match[2]), match[1] as string);
      }
    }
    expect(defined.size).toBeGreaterThan(30);
    for (const [result, { name }] of GPHOTO2_RESULTS) expect(defined.get(result)).toBe(name);
    expect([...defined.keys()].filter((result) => !GPHOTO2_RESULTS.has(result))).toEqual([]);
  });
});
