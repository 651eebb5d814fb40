/**
 * Adding a person's photos to the gallery: the one way POST /gallery and the Flask API's
 * /api/milvus/insert both take. The largest face of each photo is embedded and added through the
 * gallery store (under its lock, atomically); photos already in (same bytes) need no model work.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RECOGNIZERS, type RecognizerId } from '../api/models.js';
import { assertSameModel, sha256, type NewFace } from '../api/recognition.js';
import { HttpError, badRequest, statusFor, type ErrorBody } from './http-errors.js';
import type { Upload } from './inputs.js';
import { photoUrl, planFor, runUploads, type Context, type PlanChoice } from './context.js';

export interface AddOutcome {
  label: string;
  added: { image: string; face: number; photo: string }[];
  /** photos already in the gallery, and whose they are */
  skipped: { image: string; label: string }[];
  failed: { image: string; error: ErrorBody['error'] }[];
  /** faces left out because a photo held more than one (the largest is added) */
  otherFaces: number;
  gallery: { people: number; faces: number };
}

/** A gallery label, trimmed; `field` names it in messages. */
export function checkLabel(raw: string, field = 'label'): string {
  const label = raw.trim();
  if (label === '') throw badRequest(`"${field}" must not be empty`);
  if (label.length > 100) throw badRequest(`"${field}" must be at most 100 characters`);
  if (/[\u0000-\u001f\u007f]/.test(label)) throw badRequest(`"${field}" must not hold control characters`);
  return label;
}

/**
 * Add the largest face of each upload under `label`. A model, when asked for, must be the
 * gallery's (409 model_mismatch). When no photo could be added nor was in already, the first
 * photo's error is the answer (e.g. 422 no_face); otherwise failures are listed in the outcome.
 */
export async function addPhotos(
  ctx: Context, request: FastifyRequest, reply: FastifyReply,
  label: string, uploads: Upload[], o: { model?: RecognizerId; detect?: Pick<PlanChoice, 'detector' | 'minScore'> } = {},
): Promise<AddOutcome> {
  const { store } = ctx;
  const g = await store.current();
  if (o.model !== undefined) assertSameModel(g.meta, { model: o.model, dim: RECOGNIZERS[o.model].dim }, 'gallery');
  const model = g.meta.model as RecognizerId;

  // Photos already in (by content) need no model work; repeats within the request neither.
  const known = new Map(g.entries.map((e) => [e.hash, e.label]));
  const todo: { u: Upload; hash: string }[] = [];
  const skipped: AddOutcome['skipped'] = [];
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
  const plan = planFor(ctx, g, { model, ...o.detect, largestOnly: true });
  const results = todo.length ? await runUploads(ctx, request, reply, todo.map((t) => t.u), plan) : [];
  const faces: NewFace[] = [];
  const failed: AddOutcome['failed'] = [];
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
    throw new HttpError(statusFor(first.error.code), first.error.code as HttpError['code'],
      `no photo was added: ${failed.map((f) => `${f.image}: ${f.error.message}`).join('; ')}`);
  }
  const added = faces.length ? await store.add(faces, { model, dim: RECOGNIZERS[model].dim }) : { added: [], skipped: [] };
  const after = store.peek();
  return {
    label,
    added: added.added.map((a) => ({ image: a.name, face: a.face, photo: photoUrl(a.hash) })),
    skipped: [...skipped, ...added.skipped.map((s) => ({ image: s.name, label: s.label }))],
    failed,
    otherFaces,
    gallery: { people: after.labels().size, faces: after.size },
  };
}
