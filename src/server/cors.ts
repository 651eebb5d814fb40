/**
 * Cross-origin access (serve --cors ORIGIN[,ORIGIN...] or --cors '*'), off by default: without
 * it the server sends no Access-Control-* header at all, so a page of another origin cannot read
 * its answers. With it, @fastify/cors answers preflights (OPTIONS) and echoes an allowed origin.
 */
import type { FastifyCorsOptions } from '@fastify/cors';
import { FacekitError } from '../core/errors.js';

/**
 * The allowed origins, checked and normalized (`https://app.example.com`, `http://localhost:3000`,
 * or `*` for any); commas inside an entry separate origins too. Undefined or empty: CORS is off.
 */
export function parseOrigins(list: readonly string[] | undefined): string[] | undefined {
  if (!list) return undefined;
  const items = list.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) return undefined;
  if (items.includes('*')) return ['*'];
  const out = items.map((item) => {
    const bad = (why: string) => new FacekitError('usage', `"${item}" is not an origin (${why}); give scheme://host[:port], e.g. https://app.example.com, or *`, '--cors');
    let url: URL;
    try {
      url = new URL(item);
    } catch {
      throw bad('not a URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('the scheme must be http or https');
    if (url.username || url.password) throw bad('no user or password');
    if (url.pathname !== '/' || url.search || url.hash) throw bad('no path, query or fragment');
    return url.origin;
  });
  return [...new Set(out)];
}

/** @fastify/cors's options for the allowed origins. */
export function corsOptions(origins: string[]): FastifyCorsOptions {
  return {
    origin: origins.includes('*') ? '*' : origins,
    methods: ['GET', 'HEAD', 'POST', 'DELETE'],
    allowedHeaders: ['Content-Type', 'Authorization', 'X-API-Key'],
    exposedHeaders: ['Retry-After', 'WWW-Authenticate'],
    maxAge: 600,
    // a bare OPTIONS (no Origin or Access-Control-Request-Method) gets 204 rather than a text/plain
    // 400: every error of this server is JSON
    strictPreflight: false,
  };
}
