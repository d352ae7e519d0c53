import type { Logger } from 'pino';
import type { HttpCameraConfig } from '../config/sections/camera.js';
import { cameraPasswordSource, readSecret } from '../config/secrets.js';
import { LinesideError, errorMessage, isLinesideError } from '../errors.js';
import { redactUrl } from '../redact-url.js';
import { withCaptureDeadline } from './capture-deadline.js';
import type { Camera, CapturedImage } from '../domain/ports.js';

export interface HttpCameraDeps {
  config: HttpCameraConfig;
  logger: Logger;
  /** Where `password_env` and CREDENTIALS_DIRECTORY are read; the daemon passes process.env. */
  env?: NodeJS.ProcessEnv;
}

/**
 * An IP camera's snapshot URL: one GET per part. Requests are independent, so concurrent captures are not
 * serialised. The password is resolved once at start and only ever sits in the Authorization header.
 */
export class HttpCamera implements Camera {
  readonly type = 'http';
  readonly #deps: HttpCameraDeps;
  #url: URL | null = null;
  #headers: Record<string, string> = {};
  #source = '';

  constructor(deps: HttpCameraDeps) {
    this.#deps = deps;
  }

  async start(signal: AbortSignal): Promise<void> {
    const { config } = this.#deps;
    const url = new URL(config.url);
    if (url.username !== '' || url.password !== '') {
      throw new LinesideError(
        'LS_CAMERA_NOT_FOUND',
        'http camera: camera.url must not carry user:password; set camera.username and the password in camera.password_env',
      );
    }
    const headers: Record<string, string> = { accept: 'image/*' };
    if (config.username !== undefined) {
      const password = await readSecret(cameraPasswordSource(config), this.#deps.env ?? process.env);
      if (password === undefined) {
        throw new LinesideError(
          'LS_CAMERA_NOT_FOUND',
          `http camera: camera.username is set but no password: set env ${config.password_env} or the systemd credential ${config.password_env.toLowerCase()}`,
        );
      }
      headers.authorization = `Basic ${Buffer.from(`${config.username}:${password}`).toString('base64')}`;
    }
    this.#url = url;
    this.#headers = headers;
    this.#source = redactUrl(url);
    try {
      const probe = await this.capture(signal);
      this.#deps.logger.info({ url: this.#source, probeBytes: probe.data.length }, 'http camera ready');
    } catch (err) {
      this.#url = null;
      if (signal.aborted) throw err;
      throw new LinesideError('LS_CAMERA_NOT_FOUND', `http camera: first snapshot failed: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  stop(): Promise<void> {
    this.#url = null;
    this.#headers = {};
    return Promise.resolve();
  }

  capture(signal: AbortSignal): Promise<CapturedImage> {
    const url = this.#url;
    if (url === null) {
      return Promise.reject(new LinesideError('LS_CAMERA_ERROR', 'http camera: capture before start (or after stop)'));
    }
    return withCaptureDeadline((deadline) => this.#fetch(url, deadline), {
      timeoutMs: this.#deps.config.timeout_ms,
      signal,
      what: `http camera ${this.#source}`,
    });
  }

  async #fetch(url: URL, signal: AbortSignal): Promise<CapturedImage> {
    const source = this.#source;
    const fail = (message: string, cause?: unknown): LinesideError =>
      new LinesideError('LS_CAMERA_ERROR', `http camera ${source}: ${message}`, { cause });
    let response: Response;
    try {
      response = await fetch(url, { headers: this.#headers, signal, redirect: 'follow' });
    } catch (err) {
      if (isLinesideError(err)) throw err;
      throw fail(`request failed: ${errorMessage((err as { cause?: unknown }).cause ?? err)}`, err);
    }
    const contentType = response.headers.get('content-type') ?? '';
    if (!response.ok || !contentType.toLowerCase().startsWith('image/')) {
      await response.body?.cancel().catch(() => undefined);
      throw fail(
        response.ok ? `not an image (content-type "${contentType}")` : `HTTP ${response.status} ${response.statusText}`,
      );
    }
    const data = await this.#readBody(response, fail);
    if (data.length === 0) throw fail('empty body');
    return { data, source };
  }

  async #readBody(response: Response, fail: (message: string, cause?: unknown) => LinesideError): Promise<Buffer> {
    const maxBytes = this.#deps.config.max_bytes;
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (declared > maxBytes) {
      await response.body?.cancel().catch(() => undefined);
      throw fail(`snapshot of ${declared} bytes exceeds camera.max_bytes (${maxBytes})`);
    }
    if (response.body === null) return Buffer.alloc(0);
    const chunks: Uint8Array[] = [];
    let total = 0;
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > maxBytes) {
          await reader.cancel().catch(() => undefined);
          throw fail(`snapshot exceeds camera.max_bytes (${maxBytes})`);
        }
        chunks.push(value);
      }
    } catch (err) {
      if (isLinesideError(err)) throw err;
      throw fail(`reading the body failed: ${errorMessage(err)}`, err);
    }
    return Buffer.concat(chunks, total);
  }
}
