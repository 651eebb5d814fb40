/**
 * The gallery over HTTP: list it (GET /gallery), add a person's photos (POST /gallery), remove a
 * person (DELETE /gallery/:label), and serve the photos of its entries for the web page. Every
 * write goes through the gallery store: under its lock, atomic, one after another.
 */
import type { FastifyInstance } from 'fastify';
import { RECOGNIZERS, type RecognizerId } from '../../api/models.js';
import { decideThreshold, sha256, type NewFace } from '../../api/recognition.js';
import { HttpError, badRequest, statusFor, tooManyImages, type ErrorBody } from '../http-errors.js';
import { uploadsOf, type Upload } from '../inputs.js';
import { galleryPhoto } from '../photos.js';
import { DETECT_OPTIONS, checkModel, detectChoice, photoUrl, planFor, read, runUploads, type Context } from '../context.js';

export function registerGalleryRoutes(app: FastifyInstance, ctx: Context): void {
  const { opts, store } = ctx;

  app.get('/gallery', async () => {
    const g = await store.current();
    const people = new Map<string, { photo: string; face: number }[]>();
    for (const e of g.entries) {
      const list = people.get(e.label) ?? [];
      list.push({ photo: photoUrl(e.hash), face: e.face });
      people.set(e.label, list);
    }
    return {
      model: g.meta.model, dim: g.meta.dim, metric: g.meta.metric,
      threshold: decideThreshold(g.meta.model, g.meta.metric).threshold, faces: g.size,
      people: [...people].sort(([a], [b]) => a.localeCompare(b)).map(([label, photos]) => ({ label, faces: photos.length, photos })),
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
    const g = await store.current();
    checkModel(g, body);
    const model = g.meta.model as RecognizerId;

    // Photos already in (by content) need no model work; repeats within the request neither.
    const known = new Map(g.entries.map((e) => [e.hash, e.label]));
    const todo: { u: Upload; hash: string }[] = [];
    const skipped: { image: string; label: string }[] = [];
    const seen = new Set<string>();
    for (const u of uploads) {
      const hash = sha256(u.bytes);
      const owner = known.get(hash);
      if (owner !== undefined) skipped.push({ image: u.name, label: owner });
      else if (seen.has(hash)) skipped.push({ image: u.name, label });
      else {
        seen.add(hash);
        todo.push({ u, hash });
      }
    }
    const plan = planFor(ctx, g, { model, ...detectChoice(body), largestOnly: true });
    const results = todo.length ? await runUploads(ctx, request, reply, todo.map((t) => t.u), plan) : [];
    const faces: NewFace[] = [];
    const failed: { image: string; error: ErrorBody['error'] }[] = [];
    let otherFaces = 0;
    results.forEach((records, i) => {
      const { u, hash } = todo[i]!;
      const f = records.find((r) => r.embedding);
      if (!f) {
        const err = records.find((r) => r.error)?.error ?? { code: 'no_face', message: 'no face found' };
        failed.push({ image: u.name, error: { code: err.code, message: err.message } });
        return;
      }
      otherFaces += records.filter((r) => r !== f && r.face !== null && !r.error).length;
      faces.push({ label, name: u.name, bytes: u.bytes, hash, face: f.face ?? 0, box: f.box, vector: f.embedding!.vector });
    });
    if (faces.length === 0 && skipped.length === 0) {
      const first = failed[0]!;
      const e = new HttpError(statusFor(first.error.code), first.error.code as HttpError['code'],
        `no photo was added: ${failed.map((f) => `${f.image}: ${f.error.message}`).join('; ')}`);
      throw e;
    }
    const added = faces.length ? await store.add(faces, { model, dim: RECOGNIZERS[model].dim }) : { added: [], skipped: [] };
    const after = store.peek();
    reply.status(added.added.length > 0 ? 201 : 200);
    return {
      label,
      added: added.added.map((a) => ({ image: a.name, face: a.face, photo: photoUrl(a.hash) })),
      skipped: [...skipped, ...added.skipped.map((s) => ({ image: s.name, label: s.label }))],
      failed,
      otherFaces,
      gallery: { people: after.labels().size, faces: after.size },
    };
  });

  app.delete<{ Params: { label: string } }>('/gallery/:label', async (request) => {
    const label = request.params.label;
    const removed = await store.remove(label);
    if (removed === 0) throw new HttpError(404, 'not_found', `nobody called "${label}" in the gallery`);
    const after = store.peek();
    return { label, removed, gallery: { people: after.labels().size, faces: after.size } };
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
    const photo = await galleryPhoto(await store.current(), { hash: request.params.hash, size: num('size', 16, 2048), face: num('face', 0, 1000) });
    return reply.type(photo.type).header('Cache-Control', 'private, max-age=300').send(photo.bytes);
  });
}

function checkLabel(raw: string): string {
  const label = raw.trim();
  if (label === '') throw badRequest('"label" must not be empty');
  if (label.length > 100) throw badRequest('"label" must be at most 100 characters');
  if (/[\u0000-\u001f\u007f]/.test(label)) throw badRequest('"label" must not hold control characters');
  return label;
}
