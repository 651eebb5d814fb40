/**
 * What the server is and what it offers, without model work: the web page (`/`), the OpenAPI
 * document, `/health` (status, backend, loaded models, gallery size, queue) and `/models`.
 */
import type { FastifyInstance } from 'fastify';
import { listModels, subjectOf, type ModelRow } from '../../index.js';
import { VERSION } from '../../core/version.js';
import type { Context } from '../context.js';
import { openApiDocument } from '../openapi.js';
import { INDEX_HTML } from '../web/page.js';

export function registerHealthRoutes(app: FastifyInstance, ctx: Context): void {
  const { opts, gallery, facekit } = ctx;
  let rows: ModelRow[] | undefined;

  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8')
    .header('Content-Security-Policy', "default-src 'self'; img-src 'self' blob: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
    .send(INDEX_HTML));

  app.get('/openapi.json', async () => openApiDocument({ bodyLimit: opts.bodyLimit, maxBatch: opts.maxBatch, version: VERSION, apiKey: opts.apiKey !== undefined, compat: opts.compat === true }));

  app.get('/health', async () => {
    const { retryAfter: _later, ...queue } = facekit.load();
    // a database gallery's counts as every instance moved them; the last seen when it cannot answer
    const counts = await gallery.countsNow().catch(() => gallery.counts());
    return {
      status: ctx.stopping ? 'stopping' : 'ok',
      version: VERSION,
      backend: ctx.backend,
      workers: queue.workers,
      models: facekit.loadedModels(),
      gallery: {
        model: gallery.meta.model, metric: gallery.meta.metric,
        // what the gallery holds: faces of people, or whole pictures of categories
        subject: subjectOf(gallery.meta.model) ?? 'face', ...counts,
      },
      queue,
      uptime: Math.round((Date.now() - ctx.started) / 1000),
    };
  });

  app.get('/models', async () => {
    rows ??= listModels({ analysis: false });
    const loaded = new Set(facekit.loadedModels());
    return { models: rows.map((r) => ({ ...r, loaded: loaded.has(r.id) })) };
  });
}
