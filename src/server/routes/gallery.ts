/**
 * The gallery over HTTP: list it (GET /gallery), add a person's photos (POST /gallery), remove a
 * person (DELETE /gallery/:label), and serve the photos of its entries for the web page. Every
 * write goes through the Gallery: under its lock (a file) or in one transaction (a database).
 */
import type { FastifyInstance } from 'fastify';
import { defaultThreshold, type DetectorId, type RecognizerId } from '../../index.js';
import { HttpError, badRequest, tooManyImages } from '../http-errors.js';
import { uploadsOf } from '../inputs.js';
import { galleryPhoto } from '../photos.js';
import { addPhotos, checkLabel } from '../gallery-add.js';
import { DETECT_OPTIONS, photoUrl, read, type Context } from '../context.js';

export function registerGalleryRoutes(app: FastifyInstance, ctx: Context): void {
  const { opts, gallery } = ctx;

  app.get<{ Querystring: Record<string, string> }>('/gallery', async (request) => {
    const q = request.query;
    for (const k of Object.keys(q)) if (k !== 'offset' && k !== 'limit') throw new HttpError(400, 'unknown_field', `unknown query parameter "${k}"; this endpoint takes: offset, limit`);
    const whole = (name: string, min: number, max: number, fallback: number): number => {
      if (q[name] === undefined) return fallback;
      const n = Number(q[name]);
      if (!Number.isInteger(n) || n < min || n > max) throw badRequest(`"${name}" must be a whole number from ${min} to ${max}`);
      return n;
    };
    const offset = whole('offset', 0, Number.MAX_SAFE_INTEGER, 0);
    const limit = whole('limit', 1, 10_000, Number.MAX_SAFE_INTEGER);
    await gallery.refresh();
    const people = new Map<string, { photo: string; face: number }[]>();
    for (const e of await gallery.list()) {
      const list = people.get(e.label) ?? [];
      list.push({ photo: photoUrl(e.hash), face: e.face });
      people.set(e.label, list);
    }
    const m = gallery.meta;
    const sorted = [...people].sort(([a], [b]) => a.localeCompare(b));
    const page = sorted.slice(offset, offset + limit);
    return {
      model: m.model, dim: m.dim, metric: m.metric, threshold: defaultThreshold(m.model, m.metric, 'gallery'), faces: gallery.counts().faces,
      people: page.map(([label, photos]) => ({ label, faces: photos.length, photos })),
      total_people: sorted.length, next_offset: offset + page.length < sorted.length ? offset + page.length : null,
    };
  });

  app.post('/gallery', async (request, reply) => {
    const body = await read(ctx, request, {
      images: { image: opts.maxBatch, images: opts.maxBatch },
      options: { label: { kind: 'string' }, model: { kind: 'model' }, detector: { kind: 'detector' }, min_score: DETECT_OPTIONS.min_score! },
      required: ['label'],
    });
    const label = checkLabel(body.options.label as string);
    const uploads = uploadsOf(body, 'image', 'images');
    if (uploads.length === 0) throw badRequest('send the person\'s photos in "image" or "images"');
    if (uploads.length > opts.maxBatch) throw tooManyImages(`at most ${opts.maxBatch} photos per request (serve --max-batch)`);
    const o = body.options;
    const out = await addPhotos(ctx, request, reply, label, uploads, {
      ...(o.model !== undefined ? { model: o.model as RecognizerId } : {}),
      ...(o.detector !== undefined ? { detector: o.detector as DetectorId } : {}),
      ...(o.min_score !== undefined ? { minScore: o.min_score as number } : {}),
    });
    reply.status(out.added.length > 0 ? 201 : 200);
    return out;
  });

  app.delete<{ Params: { label: string } }>('/gallery/:label', async (request) => {
    const label = request.params.label;
    const removed = await gallery.remove(label);
    if (removed === 0) throw new HttpError(404, 'not_found', `nobody called "${label}" in the gallery`);
    return { label, removed, gallery: gallery.counts() };
  });

  app.get<{ Params: { hash: string }; Querystring: Record<string, string> }>('/gallery/photos/:hash', async (request, reply) => {
    const q = request.query;
    for (const k of Object.keys(q)) if (k !== 'size' && k !== 'face') throw new HttpError(400, 'unknown_field', `unknown query parameter "${k}"; this endpoint takes: size, face`);
    const num = (name: string, min: number, max: number): number | undefined => {
      if (q[name] === undefined) return undefined;
      const n = Number(q[name]);
      if (!Number.isInteger(n) || n < min || n > max) throw badRequest(`"${name}" must be an integer from ${min} to ${max}`);
      return n;
    };
    const hash = request.params.hash;
    const entries = /^[0-9a-f]{64}$/.test(hash) ? await gallery.entriesOf(hash) : [];
    const photo = await galleryPhoto(entries, { hash, size: num('size', 16, 2048), face: num('face', 0, 1000) }, ctx.opts.photos);
    return reply.type(photo.type).header('Cache-Control', 'private, max-age=300').send(photo.bytes);
  });
}
