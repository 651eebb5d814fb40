/**
 * What the server is and what it offers, without model work: the web page (`/`), the OpenAPI
 * document, `/health` (status, backend, loaded models, gallery size, queue) and `/models`.
 */
import type { FastifyInstance } from 'fastify';
import { modelRows, type ModelRow } from '../../api/models.js';
import { VERSION } from '../../core/version.js';
import type { Context } from '../context.js';
import { openApiDocument } from '../openapi.js';
import { INDEX_HTML } from '../web/page.js';

export function registerHealthRoutes(app: FastifyInstance, ctx: Context): void {
  const { opts, store } = ctx;
  let rows: ModelRow[] | undefined;

  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8')
    .header('Content-Security-Policy', "default-src 'self'; img-src 'self' blob: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
    .send(INDEX_HTML));

  app.get('/openapi.json', async () => openApiDocument({ bodyLimit: opts.bodyLimit, maxBatch: opts.maxBatch, version: VERSION, apiKey: opts.apiKey !== undefined, compat: opts.compat === true }));

  app.get('/health', async () => {
    const g = store.peek();
    return {
      status: ctx.stopping ? 'stopping' : 'ok',
      version: VERSION,
      backend: ctx.backend,
      workers: ctx.queue.stats().workers,
      models: [...ctx.models],
      gallery: { model: g.meta.model, metric: g.meta.metric, people: g.labels().size, faces: g.size },
      queue: ctx.queue.stats(),
      uptime: Math.round((Date.now() - ctx.started) / 1000),
    };
  });

  app.get('/models', async () => {
    rows ??= modelRows();
    return { models: rows.map((r) => ({ ...r, loaded: ctx.models.has(r.id) })) };
  });
}
