/**
 * The optional API key of `facekit serve` (--api-key, or the environment variable
 * FACEKIT_API_KEY). When it is set, every route but the page shell (GET /) and the OpenAPI
 * document needs it, as `Authorization: Bearer KEY` or `X-API-Key: KEY`. Keys are compared as
 * sha256 digests with timingSafeEqual: the time taken says nothing about the key, its length
 * included.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { FacekitError } from '../core/errors.js';
import { HttpError } from './http-errors.js';

export const API_KEY_ENV = 'FACEKIT_API_KEY';

/** Routes anyone may fetch: the pages (they ask for the key themselves) and the description of the API. */
const OPEN_ROUTES = new Set(['/', '/openapi.json']);
/** ...and the interactive API page with its files (routes/docs.ts). */
const isDocsRoute = (url: string) => url === '/docs' || url.startsWith('/docs/');

/**
 * The key in force: the option when given, else the environment variable (empty there: none).
 * A key must be printable ASCII without spaces, so that it fits an HTTP header as it is.
 */
export function resolveApiKey(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnv = option === undefined;
  const key = fromEnv ? env[API_KEY_ENV] || undefined : option;
  if (key === undefined) return undefined;
  const where = fromEnv ? API_KEY_ENV : '--api-key';
  if (key === '') throw new FacekitError('usage', 'the API key must not be empty', where);
  if (!/^[\x21-\x7e]+$/.test(key)) throw new FacekitError('usage', 'the API key must be printable ASCII without spaces (it is sent in an HTTP header)', where);
  return key;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Whether `given` is the key, in time that depends on neither. */
export function sameKey(given: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(given), expected);
}

/** The keys a request offers: the Bearer token of Authorization, and X-API-Key. */
function offered(request: FastifyRequest): string[] {
  const out: string[] = [];
  const auth = request.headers.authorization;
  const m = typeof auth === 'string' ? /^Bearer +(\S+) *$/i.exec(auth) : null;
  if (m) out.push(m[1]!);
  const x = request.headers['x-api-key'];
  if (typeof x === 'string') out.push(x.trim());
  return out;
}

/**
 * An onRequest check: does nothing without a key, or for the open routes; otherwise a request
 * that does not offer the key is answered 401 with `WWW-Authenticate: Bearer`.
 */
export function apiKeyCheck(key: string | undefined): ((request: FastifyRequest) => void) | undefined {
  if (key === undefined) return undefined;
  const expected = digest(key);
  return (request) => {
    const route = request.routeOptions.url ?? '';
    if ((request.method === 'GET' || request.method === 'HEAD') && (OPEN_ROUTES.has(route) || isDocsRoute(route))) return;
    const keys = offered(request);
    // every offered key is compared (no early exit): the answer's timing says nothing either way
    let ok = false;
    for (const k of keys) ok = sameKey(k, expected) || ok;
    if (ok) return;
    const how = 'send it as "Authorization: Bearer KEY" or "X-API-Key: KEY"';
    throw keys.length === 0
      ? new HttpError(401, 'unauthorized', `this server needs an API key: ${how}`, undefined, { 'WWW-Authenticate': 'Bearer realm="facekit"' })
      : new HttpError(401, 'unauthorized', `wrong API key: ${how}`, undefined, { 'WWW-Authenticate': 'Bearer realm="facekit", error="invalid_token"' });
  };
}
