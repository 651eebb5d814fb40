/**
 * What every route of `facekit serve` shares: the server's state (options, the warm engine, the
 * gallery), running a verb within the request's deadline (its abort signal), and the small helpers
 * that shape answers the same way on every route.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { assertSameModel, RECOGNIZERS, subjectOf, type DetectorId, type Facekit, type FaceRecord, type Gallery, type Head, type RecognizerId, type ServerOptions } from '../index.js';
import { fromFacekit, HttpError, badRequest } from './http-errors.js';
import { readBody, readBodyOf, uploadsOf, type BodySpec, type ParsedBody, type Upload } from './inputs.js';

export type { ServerOptions } from '../index.js';

export interface Context {
  opts: ServerOptions;
  facekit: Facekit;
  gallery: Gallery;
  backend: string;
  started: number;
  stopping: boolean;
  inFlight: number;
  /** serve --compat: other APIs' handlers on facekit's own paths, chosen by a request's fields (see postRoute) */
  shared?: Map<string, SharedRoute>;
  /** serve --head: /compare decides with it for its recognizer */
  head?: Head;
}

/* ---------------------------------------------------------------- paths two APIs share */

/** Another API's POST handler on one of facekit's paths (deepface's /verify, /represent, /analyze). */
export interface SharedRoute {
  /** how messages name that API */
  name: string;
  /** its fields on this path */
  spec: BodySpec;
  /** called as soon as a request's fields choose this API (e.g. to answer its errors its way) */
  chosen?: (request: FastifyRequest) => void;
  /** the answer to a request with this API's fields */
  answer: (request: FastifyRequest, reply: FastifyReply, body: ParsedBody) => Promise<unknown>;
}

/**
 * POST `path`: the body read against `spec`, then `answer`. When another API shares the path
 * (ctx.shared, serve --compat), the body is read once against both APIs' fields, and the fields
 * a request sends choose whose answer it gets (inputs.ts, BodyFamily).
 */
export function postRoute(
  app: FastifyInstance, ctx: Context, path: string, spec: BodySpec,
  answer: (request: FastifyRequest, reply: FastifyReply, body: ParsedBody) => Promise<unknown>,
): void {
  app.post(path, async (request, reply) => {
    const other = ctx.shared?.get(path);
    if (!other) return answer(request, reply, await read(ctx, request, spec));
    const got = await readBodyOf(request, [{ name: 'facekit', spec }, { name: other.name, spec: other.spec }], ctx.opts.bodyLimit, (name) => {
      if (name === other.name) other.chosen?.(request);
    });
    return got.family === other.name ? other.answer(request, reply, got.body) : answer(request, reply, got.body);
  });
}

/* ---------------------------------------------------------------- errors answered in another API's shape */

/** How an API other than facekit's answers an error: its status and body. */
export type ErrorShape = (e: HttpError) => { status: number; body: unknown };

const errorShapes = new WeakMap<FastifyRequest, ErrorShape>();

/** From now on, this request's errors are answered in `shape` (the server's error handler asks errorShapeOf). */
export function answerErrorsAs(request: FastifyRequest, shape: ErrorShape): void {
  errorShapes.set(request, shape);
}

export function errorShapeOf(request: FastifyRequest): ErrorShape | undefined {
  return errorShapes.get(request);
}

/* ---------------------------------------------------------------- running a verb for a request */

const arrival = new WeakMap<FastifyRequest, number>();

/** Start a request's clock (the onRequest hook): its deadline counts from here. */
export function noteArrival(request: FastifyRequest): void {
  arrival.set(request, Date.now());
}

/**
 * Run a verb for a request, with the request's deadline (or the client going away) as its abort
 * signal: the request's waiting images leave the queue and its running ones stop.
 */
export async function withDeadline<T>(ctx: Context, request: FastifyRequest, reply: FastifyReply, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctl = new AbortController();
  const left = ctx.opts.timeoutMs - (Date.now() - (arrival.get(request) ?? Date.now()));
  const timer = setTimeout(() => {
    ctl.abort(new HttpError(503, 'timeout', `no answer within the limit of ${ctx.opts.timeoutMs / 1000}s (serve --timeout); the server is busy or the image is very large`, ctx.facekit.load().retryAfter));
  }, Math.max(0, left));
  const onClose = () => {
    if (!reply.raw.writableFinished) ctl.abort(new HttpError(400, 'bad_request', 'the client closed the connection'));
  };
  reply.raw.on('close', onClose);
  try {
    return await fn(ctl.signal);
  } finally {
    clearTimeout(timer);
    ctl.abort(new HttpError(500, 'internal', 'request ended'));
    reply.raw.off('close', onClose);
  }
}

/** Every item of a verb's stream. */
export async function all<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of source) out.push(x);
  return out;
}

/** Uploads as a verb's items: the bytes, named as they came. */
export const items = (uploads: Upload[]) => uploads.map((u) => ({ image: u.bytes, name: u.name }));

/* ---------------------------------------------------------------- reading requests */

/** Options every endpoint that detects faces takes. */
export const DETECT_OPTIONS: BodySpec['options'] = {
  detector: { kind: 'detector' },
  min_score: { kind: 'number', min: 0, max: 1 },
  max_faces: { kind: 'int', min: 1, max: 100 },
};

/**
 * `enforce_detection: false` (deepface's name for it): an image without a face is an answer with
 * no faces rather than a 422. A camera sends many frames with nobody in view; each 422 would be
 * a console error in the browser.
 */
export const ENFORCE_DETECTION: BodySpec['options'] = { enforce_detection: { kind: 'boolean' } };

/** A request's body, within the server's body limit. */
export function read(ctx: Context, request: FastifyRequest, spec: BodySpec): Promise<ParsedBody> {
  return readBody(request, spec, ctx.opts.bodyLimit);
}

/** The one image of a field, or a 400 that says how to send it. */
export function one(body: ParsedBody, field: string, what = `"${field}"`): Upload {
  const u = uploadsOf(body, field);
  if (u.length === 0) throw badRequest(`no image: send one in ${what} (a file upload, base64 or a data: URL)`);
  return u[0]!;
}

/** How faces are found: the request's choice, else as the gallery's were. */
export function detectChoice(ctx: Context, body: ParsedBody, model?: RecognizerId): { detector?: DetectorId; minScore?: number; maxFaces?: number } {
  const o = body.options;
  // the gallery's detector finds what its model embeds: a model of the other subject (whole images
  // against a face gallery, or faces against an image gallery) takes its own
  const holds = subjectOf(ctx.gallery.meta.model);
  const sameSubject = model === undefined || holds === undefined || subjectOf(model) === holds;
  const galleryDetector = sameSubject ? ctx.gallery.settings().detector : undefined;
  return {
    ...(o.detector !== undefined ? { detector: o.detector as DetectorId } : galleryDetector !== undefined ? { detector: galleryDetector } : {}),
    ...(o.min_score !== undefined ? { minScore: o.min_score as number } : {}),
    ...(o.max_faces !== undefined ? { maxFaces: o.max_faces as number } : {}),
  };
}

/** A request that names a model must name the gallery's: embeddings of two models do not compare. */
export function checkModel(ctx: Context, body: ParsedBody): void {
  const m = body.options.model as RecognizerId | undefined;
  if (m !== undefined) assertSameModel(ctx.gallery.meta, { model: m, dim: RECOGNIZERS[m].dim }, 'gallery');
}

/* ---------------------------------------------------------------- shaping answers */

/** An image's records as an error when the image as a whole failed (not an image, no face, ...). */
export function imageFailure(records: FaceRecord[]): HttpError | undefined {
  const faces = records.filter((r) => r.face !== null && !r.error);
  if (faces.length > 0) return undefined;
  const err = records.find((r) => r.error)?.error ?? { code: 'no_face' as const, message: 'no face found' };
  return fromFacekit(err, records[0]?.image);
}

/** imageFailure, except that "no face" is no failure when the request said enforce_detection: false. */
export function failureUnlessAllowed(records: FaceRecord[], body: ParsedBody): HttpError | undefined {
  const fail = imageFailure(records);
  return fail?.code === 'no_face' && body.options.enforce_detection === false ? undefined : fail;
}

export function facePart(r: FaceRecord) {
  return { face: r.face, box: r.box, score: r.score, landmarks: r.landmarks };
}

/** Where the page fetches a gallery photo (GET /gallery/photos/:hash). */
export function photoUrl(hash: string): string {
  return `/gallery/photos/${hash}`;
}

/** The gallery's emptiness as an answer: 409, with how to fill it. */
export function emptyGallery(more = ''): HttpError {
  return new HttpError(409, 'empty_gallery', `the gallery is empty: add people first (POST /gallery${more}, or facekit build-db)`);
}
