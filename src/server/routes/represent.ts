/**
 * POST /represent: an embedding for every face of one image, or of a batch. One image that fails
 * is an error answer; in a batch ("images") each result carries its own error and the answer is 200.
 */
import type { FastifyInstance } from 'fastify';
import { RECOGNIZERS, type RecognizerId } from '../../index.js';
import { badRequest, tooManyImages } from '../http-errors.js';
import { uploadsOf } from '../inputs.js';
import { DETECT_OPTIONS, all, detectChoice, facePart, imageFailure, items, postRoute, withDeadline, type Context } from '../context.js';

export function registerRepresentRoutes(app: FastifyInstance, ctx: Context): void {
  const { opts, gallery } = ctx;

  postRoute(app, ctx, '/represent', {
    images: { image: 1, images: opts.maxBatch }, options: { model: { kind: 'model' }, ...DETECT_OPTIONS },
  }, async (request, reply, body) => {
    const uploads = uploadsOf(body, 'image', 'images');
    if (uploads.length === 0) throw badRequest('send an image in "image", or several in "images"');
    if (uploads.length > opts.maxBatch) throw tooManyImages(`at most ${opts.maxBatch} images per request (serve --max-batch)`);
    const model = (body.options.model as RecognizerId | undefined) ?? (gallery.meta.model as RecognizerId);
    // embeddings that may be compared with the gallery's are made the way the gallery's were
    const settings = model === gallery.meta.model ? gallery.settings() : { model };
    const choice = { ...settings, ...detectChoice(ctx, body, model) };
    const results = await withDeadline(ctx, request, reply, (signal) => all(ctx.facekit.batch('represent', items(uploads), { ...choice, signal })));
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
