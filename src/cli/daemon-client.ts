import { loadConfig } from '../config/load.js';
import { httpSection, type HttpConfig } from '../config/sections/http.js';
import { readSecret } from '../config/secrets.js';
import { errorCode, errorMessage } from '../errors.js';
import { EXIT, type CliIo } from './io.js';

/** Where a running daemon's API is, and its token (needed for changes when it listens beyond loopback). */
export interface DaemonTarget {
  url: string;
  token: string | undefined;
}

/** A failure that ends the command: what to print on stderr and the exit status. */
export class ClientFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** The address the CLI dials: loopback when the daemon listens on every address. */
function dialHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * --url as given; else the http section of --config (a port 0 cannot be found and needs --url); else the
 * schema's defaults (127.0.0.1 and the default port).
 */
export async function daemonTarget(
  options: { url?: string | undefined; config?: string | undefined },
  io: Pick<CliIo, 'env'>,
): Promise<DaemonTarget> {
  let http: HttpConfig = httpSection.parse({});
  if (options.config !== undefined) {
    try {
      http = loadConfig(options.config).config.http;
    } catch (err) {
      throw new ClientFailure(`${errorCode(err)}: ${errorMessage(err)}`, EXIT.CONFIG);
    }
    if (http.port === 0 && options.url === undefined) {
      throw new ClientFailure('http.port is 0 (any free port) in that config: give the address with --url', EXIT.USAGE);
    }
  }
  const url = options.url ?? `http://${dialHost(http.host)}:${http.port}/`;
  const source = { key: 'http.token_env', credential: 'http_token', envName: http.token_env };
  return { url: url.endsWith('/') ? url : `${url}/`, token: await readSecret(source, io.env) };
}

/** One API call; a daemon that does not answer is exit 69, with what to check. */
export async function callDaemon(
  target: DaemonTarget,
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = {};
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (target.token !== undefined) headers.authorization = `Bearer ${target.token}`;
  let res: Response;
  try {
    res = await fetch(new URL(path, target.url), {
      method: init.method ?? 'GET',
      headers,
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      signal: AbortSignal.timeout(5000),
    });
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : errorMessage(err);
    throw new ClientFailure(
      `no lineside daemon answers at ${target.url} (${cause}): is it running, with http.enabled? ` +
        "Give the daemon's config with --config, or its address with --url.",
      EXIT.UNAVAILABLE,
    );
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body };
}

/** Runs a command body, turning a ClientFailure into its message and exit status. */
export async function asCommand(io: CliIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (!(err instanceof ClientFailure)) throw err;
    io.stderr.write(`lineside: ${err.message}\n`);
    return err.exitCode;
  }
}
