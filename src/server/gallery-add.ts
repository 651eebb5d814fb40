/**
 * Adding a person's photos over HTTP, the one way POST /gallery and the Flask API's
 * /api/milvus/insert both take: Gallery.add (the largest face of each photo, photos already in
 * skipped, one write), answered in the server's shape.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DetectorId, RecognizerId } from '../index.js';
import { HttpError, badRequest, statusFor, type ErrorBody } from './http-errors.js';
import type { Upload } from './inputs.js';
import { photoUrl, withDeadline, type Context } from './context.js';

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
  label: string, uploads: Upload[], o: { model?: RecognizerId; detector?: DetectorId; minScore?: number } = {},
): Promise<AddOutcome> {
  const r = await withDeadline(ctx, request, reply, (signal) => ctx.gallery.add(label, uploads.map((u) => u.bytes), {
    ...o, names: uploads.map((u) => u.name), signal,
  }));
  if (r.added.length === 0 && r.skipped.length === 0) {
    const first = r.failed[0]!;
    throw new HttpError(statusFor(first.code), first.code, `no photo was added: ${r.failed.map((f) => `${f.image}: ${f.message}`).join('; ')}`);
  }
  const after = ctx.gallery.counts();
  return {
    label,
    added: r.added.map((a) => ({ image: a.image, face: a.face, photo: photoUrl(a.hash) })),
    skipped: r.skipped,
    failed: r.failed.map((f) => ({ image: f.image, error: { code: f.code, message: f.message } })),
    otherFaces: r.otherFaces,
    gallery: after,
  };
}
