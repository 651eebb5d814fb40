/**
 * GET /docs: the API as an interactive page (Swagger UI, from the npm package @fastify/swagger-ui:
 * nothing fetched from elsewhere), over the server's own /openapi.json. "Try it out" sends real
 * requests; "Authorize" takes the API key when the server has one.
 */
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { VERSION } from '../../core/version.js';
import { openApiDocument } from '../openapi.js';
import type { Context } from '../context.js';

/** The paths the docs plugin serves (open like / and /openapi.json: the page asks for the key itself). */
export const DOCS_PREFIX = '/docs';

export async function registerDocs(app: FastifyInstance, ctx: Context): Promise<void> {
  const { opts } = ctx;
  const document = openApiDocument({ bodyLimit: opts.bodyLimit, maxBatch: opts.maxBatch, version: VERSION, apiKey: opts.apiKey !== undefined, compat: opts.compat === true });
  await app.register(swagger, { mode: 'static', specification: { document: document as never } });
  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    staticCSP: true,
    // Swagger UI sets a few inline styles itself (its layout breaks without them)
    transformStaticCSP: (header) => header.replace(/style-src ([^;]*)/, "style-src $1 'unsafe-inline'"),
    // BaseLayout: the API itself, without Swagger's bar for exploring other documents
    uiConfig: { layout: 'BaseLayout', docExpansion: 'list', deepLinking: false, tryItOutEnabled: true, displayRequestDuration: true },
  });
}
