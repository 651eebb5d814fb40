/**
 * The face-recognition workshop's FastAPI service, served by facekit (serve --compat) under its
 * root path /deteccao-facial-api and also without it: GET /status, POST /echo, POST /detect-face
 * and POST /recognize-face, with the answers its clients read.
 *
 * - Its clients send the JSON body with no Content-Type at all (Python's
 *   `requests.post(url, data=json.dumps(...))`), which FastAPI reads as JSON: so do these routes.
 *   Any other Content-Type than JSON is a 415.
 * - /detect-face answers as deepface's extract_faces gives `facial_area`: whole pixels, the box
 *   clamped into the image as deepface clamps it, and the eyes named from the person's point of
 *   view (deepface/models/Detector.py: "left eye and right eye are eyes on the left and right
 *   respectively with respect to the person instead of observer"; its tests assert
 *   `left_eye[0] > right_eye[0]` on an upright frontal photo). facekit's own landmarks name them
 *   from the image's side (leftEye has the smaller x), so left_eye here is facekit's rightEye.
 * - The workshop's /detect-face caught every error of the image and answered []: so does this
 *   one (not base64, not an image, damaged, too many pixels, no face), logging the reason but for
 *   "no face". A request that is not {"base64": ...} is a 400 as FastAPI refused it too (422
 *   there), and what the server itself refuses (API key, body limit, overload, timeout) keeps
 *   facekit's JSON errors: [] would say "no face" of an image nobody looked at.
 */
import type { FastifyInstance } from 'fastify';
import { decodeBase64Image } from '../../core/image.js';
import type { FaceRecord, Point } from '../../core/records.js';
import { HttpError, badRequest, fromFacekit } from '../http-errors.js';
import { badBytes, type Upload } from '../inputs.js';
import { jsonBody } from '../json-body.js';
import { all, emptyGallery, imageFailure, items, withDeadline, type Context } from '../context.js';

/** FastAPI's root_path of the workshop's service; its routes are served under it and without it. */
export const WORKSHOP_ROOT = '/deteccao-facial-api';
/** /recognize-face's name when nobody in the gallery is within the threshold. */
export const UNKNOWN_NAME = 'unknown';
/** The routes that run models (refused at once when the queue is full). */
export const WORKSHOP_MODEL_ROUTES = ['/detect-face', '/recognize-face'].flatMap((p) => [p, WORKSHOP_ROOT + p]);

export function registerWorkshopRoutes(app: FastifyInstance, ctx: Context): void {
  // Each prefix is a plugin of its own: the parser for bodies without a Content-Type stays there.
  for (const prefix of ['', WORKSHOP_ROOT]) void app.register(async (sub) => workshopRoutes(sub, ctx), { prefix });
}

/** A deepface facial_area. */
export interface FacialArea {
  x: number;
  y: number;
  w: number;
  h: number;
  /** the person's left eye (on the image's right for an upright, frontal, unmirrored photo) */
  left_eye: [number, number] | null;
  right_eye: [number, number] | null;
}

async function workshopRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  const { opts, gallery, facekit } = ctx;
  // fastify's "*" parser takes every body whose type has no parser of its own, and bodies without
  // a Content-Type: the latter are read as JSON, the others refused.
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: opts.bodyLimit }, (request, body, done) => {
    if (request.headers['content-type'] !== undefined) {
      done(new HttpError(415, 'unsupported_media_type', 'send JSON: Content-Type application/json, or no Content-Type at all'), undefined);
      return;
    }
    try {
      done(null, parseJson(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  app.get('/status', async () => ({ status: 'ok' }));

  app.post('/echo', async (request) => jsonObject(request.body, 'send a JSON object: it is answered as it is'));

  app.post('/detect-face', async (request, reply) => {
    const text = base64Field(request.body);
    const quiet = (why: string) => {
      opts.log(`${request.method} ${request.url.split('?')[0]}: answered [] (${why.split('\n')[0]})`);
      return [];
    };
    let upload: Upload;
    try {
      upload = imageOf(text);
    } catch (err) {
      return quiet((err as Error).message);
    }
    const detector = gallery.settings().detector;
    const [records] = await withDeadline(ctx, request, reply, (signal) => all(facekit.batch('detect', items([upload]), { detector, signal })));
    const fail = imageFailure(records!);
    if (fail) return fail.code === 'no_face' ? [] : quiet(fail.message);
    return records!.filter((r) => r.face !== null && !r.error).map((r) => ({ facial_area: facialArea(r) }));
  });

  app.post('/recognize-face', async (request, reply) => {
    const upload = imageOf(base64Field(request.body));
    const empty = () => emptyGallery(', /api/milvus/insert');
    if (gallery.counts().faces === 0) await gallery.refresh();
    if (gallery.counts().faces === 0) throw empty();
    const [records] = await withDeadline(ctx, request, reply, (signal) => all(facekit.batch('represent', items([upload]), { ...gallery.settings(), largestOnly: true, signal })));
    const fail = imageFailure(records!);
    if (fail) throw fail;
    const face = records!.find((r) => r.embedding);
    if (!face) throw fromFacekit(records!.find((r) => r.error)?.error ?? { code: 'no_face', message: 'no face found' }, upload.name);
    // the gallery's own metric and gallery threshold
    const [answer] = await all(gallery.identifyMany([face], { topK: 1 })).catch((err: unknown) => {
      throw (err as { code?: string }).code === 'bad_gallery' ? empty() : err;
    });
    return { name: answer!.identity ?? UNKNOWN_NAME, distance: answer!.distance ?? 0 };
  });
}

/** A JSON body without a Content-Type: empty is no body; otherwise as every JSON body (jsonBody's guards). */
function parseJson(text: string): unknown {
  return text.trim() === '' ? undefined : jsonBody(text);
}

function jsonObject(body: unknown, what: string): Record<string, unknown> {
  // a raw image/* or octet-stream body (facekit's parsers of the whole server) is not this API's
  if (Buffer.isBuffer(body)) throw new HttpError(415, 'unsupported_media_type', 'send JSON: Content-Type application/json, or no Content-Type at all');
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'bad_json', what);
  return body as Record<string, unknown>;
}

/** The request's one field, "base64": anything else is a malformed request. */
function base64Field(body: unknown): string {
  const o = jsonObject(body, 'send a JSON object: {"base64": "<the image as base64>"}');
  for (const k of Object.keys(o)) if (k !== 'base64') throw new HttpError(400, 'unknown_field', `unknown field "${k}"; this endpoint takes: base64`);
  if (o.base64 === undefined) throw badRequest('"base64" is required: the image as base64');
  if (typeof o.base64 !== 'string') throw badRequest('"base64" must be a string: the image as base64');
  return o.base64;
}

/** The image in "base64" (bare base64, or a data: URL), or why it is none. */
function imageOf(text: string): Upload {
  const bytes = decodeBase64Image(text);
  if (!bytes || bytes.length === 0) throw badRequest('"base64" is not an image as base64');
  const upload = { field: 'base64', name: 'base64', bytes };
  const bad = badBytes(upload);
  if (bad) throw bad;
  return upload;
}

/**
 * A face record as deepface's facial_area: x and y truncated to whole pixels and at least 0, w
 * and h truncated and kept inside the image (deepface: `min(width - x - 1, int(w))`), the eyes
 * rounded and named for the person.
 */
export function facialArea(r: FaceRecord): FacialArea {
  const [bx, by, bw, bh] = r.box ?? [0, 0, 0, 0];
  const width = r.width ?? Number.POSITIVE_INFINITY, height = r.height ?? Number.POSITIVE_INFINITY;
  const x = Math.max(0, Math.trunc(bx)), y = Math.max(0, Math.trunc(by));
  const w = Math.max(0, Math.min(width - x - 1, Math.trunc(bw))), h = Math.max(0, Math.min(height - y - 1, Math.trunc(bh)));
  const eye = (p: Point | undefined): [number, number] | null => (p ? [Math.round(p[0]), Math.round(p[1])] : null);
  return { x, y, w, h, left_eye: eye(r.landmarks?.rightEye), right_eye: eye(r.landmarks?.leftEye) };
}
