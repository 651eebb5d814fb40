/**
 * POST /represent: an embedding for every face of one image, or of a batch. One image that fails
 * is an error answer; in a batch ("images") each result carries its own error and the answer is 200.
 */
import type { FastifyInstance } from 'fastify';
import { RECOGNIZERS, type RecognizerId } from '../../api/models.js';
import { badRequest, tooManyImages } from '../http-errors.js';
import { uploadsOf } from '../inputs.js';
import { DETECT_OPTIONS, detectChoice, facePart, imageFailure, planFor, read, runUploads, type Context } from '../context.js';

export function registerRepresentRoutes(app: FastifyInstance, ctx: Context): void {
  const { opts, store } = ctx;

  app.post('/represent', async (request, reply) => {
    const body = await read(ctx, request, {
      images: { image: 1, images: opts.maxBatch }, options: { model: { kind: 'model' }, ...DETECT_OPTIONS },
    });
    const uploads = uploadsOf(body, 'image', 'images');
    if (uploads.length === 0) throw badRequest('send an image in "image", or several in "images"');
    if (uploads.length > opts.maxBatch) throw tooManyImages(`at most ${opts.maxBatch} images per request (serve --max-batch)`);
    const g = store.peek();
    const model = (body.options.model as RecognizerId | undefined) ?? (g.meta.model as RecognizerId);
    const plan = planFor(ctx, g, { model, ...detectChoice(body) });
    const results = await runUploads(ctx, request, reply, uploads, plan);
    const single = uploads.length === 1 && uploads[0]!.field === 'image';
    if (single) {
      const fail = imageFailure(results[0]!);
      if (fail) throw fail;
    }
    return {
      model, dim: RECOGNIZERS[model].dim,
      results: results.map((records, i) => {
        const fail = imageFailure(records);
        const r0 = records[0];
        return {
          image: uploads[i]!.name, width: r0?.width, height: r0?.height,
          faces: records.filter((r) => r.face !== null && !r.error).map((r) => ({ ...facePart(r), embedding: r.embedding })),
          ...(fail ? { error: fail.body().error } : {}),
        };
      }),
    };
  });
}
