/**
 * POST /similar: the gallery photos nearest to an uploaded one (Gallery.similar), nearest first,
 * each with its label (category or person), distance, match score and where the page fetches the
 * photo (by content hash, never the server's own path). Any gallery: whole images or faces.
 */
import type { FastifyInstance } from 'fastify';
import { FacekitError, type Metric } from '../../index.js';
import { fromFacekit } from '../http-errors.js';
import { matchScore } from '../score.js';
import { emptyGallery, one, photoUrl, postRoute, withDeadline, type Context } from '../context.js';

export function registerSimilarRoutes(app: FastifyInstance, ctx: Context): void {
  const { gallery } = ctx;

  postRoute(app, ctx, '/similar', {
    images: { image: 1 },
    options: { top: { kind: 'int', min: 1, max: 100 }, threshold: { kind: 'number', min: 0 }, metric: { kind: 'metric' } },
  }, async (request, reply, body) => {
    const upload = one(body, 'image');
    if (gallery.counts().faces === 0) await gallery.refresh();
    if (gallery.counts().faces === 0) throw emptyGallery();
    const answer = await withDeadline(ctx, request, reply, (signal) => gallery.similar(upload.bytes, {
      name: upload.name, top: (body.options.top as number | undefined) ?? 8, metric: body.options.metric as Metric | undefined,
      threshold: body.options.threshold as number | undefined, signal,
    })).catch((err: unknown) => {
      throw err instanceof FacekitError && err.where !== undefined && err.code !== 'usage' ? fromFacekit(err, err.where) : err;
    });
    return {
      image: upload.name, model: answer.model, metric: answer.metric, threshold: answer.threshold, ...(answer.box ? { box: answer.box } : {}),
      matches: answer.matches.map(({ image: _path, hash, ...m }) => ({ ...m, match_score: matchScore(m.distance, answer.threshold), photo: photoUrl(hash) })),
    };
  });
}
