import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpCamera } from '../../../src/camera/http.js';
import { redactUrl } from '../../../src/redact-url.js';
import { httpCamera, type HttpCameraConfig } from '../../../src/config/sections/camera.js';
import { cameraPasswordSource, readSecret } from '../../../src/config/secrets.js';
import { makeFifo, releaseFifo, within } from '../fifo.js';
import { DATASET_DIR, memoryLogger, type MemoryLogger } from './helpers.js';

const PASSWORD = 's3cret-Pa55';
const never = new AbortController().signal;

let server: Server;
let base: string;
let datasetJpeg: Buffer;
let generatedPng: Buffer;
const hits = new Map<string, number>();
/** `/switch` behaves like this path, so one started camera can meet each failure on capture. */
let switchTo = '/snapshot.jpg';

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
  switch (url.pathname === '/switch' ? switchTo : url.pathname) {
    case '/snapshot.jpg':
      res.writeHead(200, { 'content-type': 'image/jpeg' }).end(datasetJpeg);
      return;
    case '/generated.png':
      res.writeHead(200, { 'content-type': 'image/png' }).end(generatedPng);
      return;
    case '/chunked.jpg':
      res.writeHead(200, { 'content-type': 'image/jpeg' });
      res.write(datasetJpeg.subarray(0, 1000));
      setTimeout(() => res.end(datasetJpeg.subarray(1000)), 20);
      return;
    case '/hang':
      return; // never answers
    case '/slow-body':
      res.writeHead(200, { 'content-type': 'image/jpeg' });
      res.write(datasetJpeg.subarray(0, 100)); // headers and a little, then nothing
      return;
    case '/error':
      res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error');
      return;
    case '/html':
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
      return;
    case '/empty':
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': '0' }).end();
      return;
    case '/big':
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': String(4096) }).end(Buffer.alloc(4096, 1));
      return;
    case '/big-chunked':
      res.writeHead(200, { 'content-type': 'image/jpeg' });
      res.write(Buffer.alloc(3000, 1));
      res.end(Buffer.alloc(3000, 1));
      return;
    case '/auth': {
      const expected = `Basic ${Buffer.from(`operator:${PASSWORD}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="cam"' }).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'image/jpeg' }).end(datasetJpeg);
      return;
    }
    default:
      res.writeHead(404).end();
  }
}

beforeAll(async () => {
  datasetJpeg = readFileSync(path.join(DATASET_DIR, 'ok_front', 'cast_ok_0_1.jpeg'));
  generatedPng = await sharp({ create: { width: 48, height: 32, channels: 3, background: { r: 200, g: 10, b: 10 } } })
    .png()
    .toBuffer();
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function camera(
  overrides: Partial<HttpCameraConfig> & { url: string },
  env: NodeJS.ProcessEnv = {},
  log: MemoryLogger = memoryLogger(),
): HttpCamera {
  return new HttpCamera({ config: httpCamera.parse({ type: 'http', ...overrides }), logger: log.logger, env });
}

async function started(cam: HttpCamera): Promise<HttpCamera> {
  await cam.start(never);
  return cam;
}

describe('http camera against a local server', () => {
  it('serves the real dataset JPEG bytes and a generated PNG', async () => {
    const jpeg = await (await started(camera({ url: `${base}/snapshot.jpg` }))).capture(never);
    expect(jpeg.data.equals(datasetJpeg)).toBe(true);
    expect(jpeg.source).toBe(`${base}/snapshot.jpg`);
    expect(jpeg.label).toBeUndefined();
    const png = await (await started(camera({ url: `${base}/generated.png` }))).capture(never);
    expect(await sharp(png.data).metadata()).toMatchObject({ format: 'png', width: 48, height: 32 });
  });

  it('assembles a body that arrives in pieces', async () => {
    const image = await (await started(camera({ url: `${base}/chunked.jpg` }))).capture(never);
    expect(image.data.equals(datasetJpeg)).toBe(true);
  });

  it('start probes the URL once; an unreachable camera fails start with LS_CAMERA_NOT_FOUND', async () => {
    const before = hits.get('/generated.png') ?? 0;
    await started(camera({ url: `${base}/generated.png` }));
    expect(hits.get('/generated.png')).toBe(before + 1);
    await expect(camera({ url: `${base}/error` }).start(never)).rejects.toMatchObject({
      code: 'LS_CAMERA_NOT_FOUND',
      message: expect.stringContaining('HTTP 500'),
    });
  });

  it('a hanging endpoint fails start (LS_CAMERA_NOT_FOUND caused by LS_CAMERA_TIMEOUT)', async () => {
    await expect(camera({ url: `${base}/hang`, timeout_ms: 300 }).start(never)).rejects.toMatchObject({
      code: 'LS_CAMERA_NOT_FOUND',
      cause: { code: 'LS_CAMERA_TIMEOUT', message: expect.stringContaining('no image within 300 ms') },
    });
  });

  it.each([
    ['/hang', 'LS_CAMERA_TIMEOUT', 'no image within 300 ms'],
    ['/slow-body', 'LS_CAMERA_TIMEOUT', 'no image within 300 ms'],
    ['/error', 'LS_CAMERA_ERROR', 'HTTP 500 Internal Server Error'],
    ['/html', 'LS_CAMERA_ERROR', 'not an image (content-type "text/html")'],
    ['/empty', 'LS_CAMERA_ERROR', 'empty body'],
    ['/missing', 'LS_CAMERA_ERROR', 'HTTP 404 Not Found'],
  ])('a capture meeting %s fails with %s (%s), and the next good one works', async (behaviour, code, message) => {
    switchTo = '/snapshot.jpg';
    const cam = await started(camera({ url: `${base}/switch`, timeout_ms: 300 }));
    try {
      switchTo = behaviour;
      await expect(cam.capture(never)).rejects.toMatchObject({ code, message: expect.stringContaining(message) });
    } finally {
      switchTo = '/snapshot.jpg';
    }
    expect((await cam.capture(never)).data.equals(datasetJpeg)).toBe(true);
  });

  it('every capture of a camera that stops answering times out, without piling up open connections', async () => {
    let answer = true;
    const flaky = createServer((_req, res) => {
      if (answer) res.writeHead(200, { 'content-type': 'image/jpeg' }).end(datasetJpeg);
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    const openConnections = (): Promise<number> =>
      new Promise((resolve) => flaky.getConnections((_err, count) => resolve(count)));
    try {
      const url = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}/snap`;
      const cam = await started(camera({ url, timeout_ms: 400 }));
      answer = false;
      const codes: string[] = [];
      for (let i = 0; i < 6; i++) {
        codes.push(
          await cam.capture(never).then(
            () => 'ok',
            (err: { code: string }) => err.code,
          ),
        );
      }
      expect(codes).toEqual(Array.from({ length: 6 }, () => 'LS_CAMERA_TIMEOUT'));
      // fetch destroys an aborted request's socket (undici may keep one spare idle connection per origin).
      await expect.poll(openConnections).toBeLessThanOrEqual(2);
      answer = true;
      expect((await cam.capture(never)).data.equals(datasetJpeg)).toBe(true);
    } finally {
      flaky.closeAllConnections();
      await new Promise((resolve) => flaky.close(resolve));
    }
  });

  it('refuses snapshots over max_bytes, by content-length and while streaming', async () => {
    for (const pathname of ['/big', '/big-chunked']) {
      const err: unknown = await camera({ url: `${base}${pathname}`, max_bytes: 2048 })
        .start(never)
        .catch((e: unknown) => e);
      expect(err).toMatchObject({
        cause: { code: 'LS_CAMERA_ERROR', message: expect.stringContaining('max_bytes (2048)') },
      });
    }
  });

  it('connection refused is LS_CAMERA_ERROR on capture', async () => {
    const closing = createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(generatedPng));
    await new Promise<void>((resolve) => closing.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closing.address() as AddressInfo).port}/snap.png`;
    const cam = await started(camera({ url }));
    closing.closeAllConnections();
    await new Promise((resolve) => closing.close(resolve));
    await expect(cam.capture(never)).rejects.toMatchObject({
      code: 'LS_CAMERA_ERROR',
      message: expect.stringContaining('ECONNREFUSED'),
    });
  });

  it('honours the caller abort signal', async () => {
    const cam = await started(camera({ url: `${base}/snapshot.jpg` }));
    const caller = new AbortController();
    caller.abort();
    await expect(cam.capture(caller.signal)).rejects.toMatchObject({ code: 'LS_CAMERA_TIMEOUT' });
  });
});

describe('http camera credentials', () => {
  let credentials: string;

  beforeAll(() => {
    credentials = mkdtempSync(path.join(tmpdir(), 'lineside-http-cred-'));
  });
  afterAll(() => {
    rmSync(credentials, { recursive: true, force: true });
  });

  it('sends basic auth with the password from the environment, and never logs it', async () => {
    const log = memoryLogger();
    const cam = await started(
      camera({ url: `${base}/auth`, username: 'operator', password_env: 'CAM_PW' }, { CAM_PW: PASSWORD }, log),
    );
    expect((await cam.capture(never)).data.equals(datasetJpeg)).toBe(true);
    expect(log.lines.length).toBeGreaterThan(0);
    expect(log.lines.join('\n')).not.toContain(PASSWORD);
    expect(log.lines.join('\n')).not.toContain(Buffer.from(`operator:${PASSWORD}`).toString('base64'));
  });

  it('a wrong password is LS_CAMERA_NOT_FOUND at start (HTTP 401) and the message carries no password', async () => {
    const err: unknown = await camera(
      { url: `${base}/auth`, username: 'operator' },
      { LINESIDE_CAMERA_PASSWORD: 'wrong-one' },
    )
      .start(never)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'LS_CAMERA_NOT_FOUND', message: expect.stringContaining('HTTP 401') });
    expect(JSON.stringify(err) + String(err)).not.toContain('wrong-one');
  });

  it('prefers the systemd credential file (lower-cased name) over the environment', async () => {
    writeFileSync(path.join(credentials, 'lineside_camera_password'), `${PASSWORD}\n`);
    const env = { CREDENTIALS_DIRECTORY: credentials, LINESIDE_CAMERA_PASSWORD: 'stale-env-value' };
    const cam = await started(camera({ url: `${base}/auth`, username: 'operator' }, env));
    expect((await cam.capture(never)).data.length).toBe(datasetJpeg.length);
  });

  it('falls back to the environment when the credential file is absent', async () => {
    const env = { CREDENTIALS_DIRECTORY: credentials, OTHER_PW: PASSWORD };
    const cam = await started(camera({ url: `${base}/auth`, username: 'operator', password_env: 'OTHER_PW' }, env));
    expect((await cam.capture(never)).data.length).toBe(datasetJpeg.length);
  });

  it('an empty password fails start with LS_CONFIG_INVALID naming the variable, not a 401 later', async () => {
    await expect(
      camera({ url: `${base}/auth`, username: 'operator', password_env: 'EMPTY_PW' }, { EMPTY_PW: '' }).start(never),
    ).rejects.toMatchObject({
      code: 'LS_CONFIG_INVALID',
      message: expect.stringMatching(/camera\.password_env: .*environment variable EMPTY_PW is empty/),
    });
  });

  it('refuses a credential that is not a regular file (a FIFO) at once, instead of blocking a pool thread on it', async () => {
    const fifo = makeFifo(path.join(credentials, 'fifo_pw'));
    try {
      const read = readSecret(cameraPasswordSource({ password_env: 'FIFO_PW' }), {
        CREDENTIALS_DIRECTORY: credentials,
        FIFO_PW: 'from-env',
      });
      await expect(within(read, 10_000, 'credential read')).rejects.toMatchObject({
        code: 'LS_CONFIG_INVALID',
        message: expect.stringContaining('not a regular file (a FIFO)'),
      });
    } finally {
      releaseFifo(fifo);
      rmSync(fifo);
    }
  });

  it('username without any password fails start with LS_CAMERA_NOT_FOUND naming both places', async () => {
    await expect(
      camera({ url: `${base}/auth`, username: 'operator', password_env: 'NOPE_PW' }).start(never),
    ).rejects.toMatchObject({
      code: 'LS_CAMERA_NOT_FOUND',
      message: expect.stringMatching(/set env NOPE_PW or the systemd credential nope_pw/),
    });
  });

  it('refuses user:password in the URL without echoing it', async () => {
    const err: unknown = await camera({ url: `http://admin:${PASSWORD}@127.0.0.1:1/snap.jpg` })
      .start(never)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'LS_CAMERA_NOT_FOUND',
      message: expect.stringContaining('must not carry user:password'),
    });
    expect(String((err as Error).message)).not.toContain(PASSWORD);
  });

  it('source drops the query string, where cheap cameras take their password', async () => {
    expect(redactUrl(new URL('http://10.0.0.5:8080/cgi-bin/snapshot.cgi?user=admin&pwd=hunter2'))).toBe(
      'http://10.0.0.5:8080/cgi-bin/snapshot.cgi',
    );
    const cam = await started(camera({ url: `${base}/snapshot.jpg?pwd=hunter2` }));
    expect((await cam.capture(never)).source).toBe(`${base}/snapshot.jpg`);
  });
});
