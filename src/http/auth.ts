import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { isLoopback, type HttpConfig } from '../config/sections/http.js';
import { readSecret } from '../config/secrets.js';
import { LinesideError } from '../errors.js';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The token a request that changes something must carry (Authorization: Bearer TOKEN), or undefined on loopback,
 * where only this machine can connect. On any other address a token is required: the credential `http_token`,
 * else the variable named by http.token_env; without one the daemon refuses to start (exit 78).
 */
export async function apiToken(
  config: HttpConfig,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string | undefined> {
  if (isLoopback(config.host)) return undefined;
  const token = await readSecret({ key: 'http.token_env', credential: 'http_token', envName: config.token_env }, env);
  if (token === undefined) {
    throw new LinesideError(
      'LS_CONFIG_INVALID',
      `http.host: ${config.host} is not loopback, so the API needs a token: set the credential http_token or the environment variable ${config.token_env}`,
    );
  }
  return token;
}

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Every request but a read needs the token, when there is one. */
export function requireToken(app: FastifyInstance, token: string | undefined): void {
  if (token === undefined) return;
  app.addHook('onRequest', async (request, reply) => {
    if (READS.has(request.method)) return;
    const header = request.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
    if (!sameToken(given, token)) {
      await reply.code(401).send({ error: 'this request needs the API token (Authorization: Bearer TOKEN)' });
    }
  });
}
