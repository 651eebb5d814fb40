/**
 * What every route of `facekit serve` shares: the server's state (options, gallery store, model
 * queue), how a request's choices become a pipeline plan, running uploads in the workers within
 * the request's deadline, and the small helpers that shape answers the same way on every route.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DEFAULT_DETECTOR, RECOGNIZERS, isDetectorId, type DetectorId, type RecognizerId } from '../api/models.js';
import { assertSameModel, type GalleryStore, type InMemoryGallery } from '../api/recognition.js';
import { DEFAULT_PLAN, type ImageJob, type PipelinePlan } from '../api/pipeline.js';
import type { FaceRecord } from '../core/records.js';
import { fromFacekit, HttpError, badRequest } from './http-errors.js';
import { readBody, uploadsOf, type BodySpec, type ParsedBody, type Upload } from './inputs.js';
import type { ModelQueue } from './queue.js';

export type { ServerOptions } from '../api/server-options.js';
import type { ServerOptions } from '../api/server-options.js';

export interface Context {
  opts: ServerOptions;
  store: GalleryStore;
  queue: ModelQueue;
  backend: string;
  /** catalogue ids of the models the workers have loaded */
  models: Set<string>;
  started: number;
  stopping: boolean;
  inFlight: number;
}

/* ---------------------------------------------------------------- plans and model work */

export interface PlanChoice {
  model: RecognizerId;
  detector?: string;
  minScore?: number;
  maxFaces?: number;
  upTo?: PipelinePlan['upTo'];
  largestOnly?: boolean;
}

export function planFor(ctx: Context, g: InMemoryGallery, c: PlanChoice): PipelinePlan {
  const galleryDetector = isDetectorId(g.meta.detector) ? g.meta.detector : DEFAULT_DETECTOR;
  const detector = (c.detector ?? galleryDetector) as DetectorId;
  return {
    ...DEFAULT_PLAN,
    upTo: c.upTo ?? 'represent',
    model: c.model,
    scheme: RECOGNIZERS[c.model].scheme,
    // embeddings that may be compared with the gallery's are made the way the gallery's were
    flip: c.model === g.meta.model ? g.meta.flip : DEFAULT_PLAN.flip,
    detector,
    minScore: c.minScore ?? DEFAULT_PLAN.minScore,
    maxFaces: c.maxFaces ?? DEFAULT_PLAN.maxFaces,
    maxPixels: ctx.opts.maxPixels,
    largestOnly: c.largestOnly ?? false,
  };
}

/** Remember which models the workers have loaded, from the records a plan gave. */
export function noteModels(ctx: Context, plan: PipelinePlan, records: FaceRecord[]): void {
  if (records.some((r) => r.detector === plan.detector)) ctx.models.add(plan.detector);
  if (records.some((r) => r.embedding)) ctx.models.add(plan.model);
}

const arrival = new WeakMap<FastifyRequest, number>();

/** Start a request's clock (the onRequest hook): its deadline counts from here. */
export function noteArrival(request: FastifyRequest): void {
  arrival.set(request, Date.now());
}

/**
 * Run uploads through the pipeline in the workers, within the request's time limit. Aborts (the
 * deadline, or the client going away) take the request's waiting images out of the queue.
 */
export async function runUploads(ctx: Context, request: FastifyRequest, reply: FastifyReply, uploads: Upload[], plan: PipelinePlan): Promise<FaceRecord[][]> {
  const ctl = new AbortController();
  const left = ctx.opts.timeoutMs - (Date.now() - (arrival.get(request) ?? Date.now()));
  const timer = setTimeout(() => {
    ctl.abort(new HttpError(503, 'timeout', `no answer within the limit of ${ctx.opts.timeoutMs / 1000}s (serve --timeout); the server is busy or the image is very large`, ctx.queue.retryAfter()));
  }, Math.max(0, left));
  const onClose = () => {
    if (!reply.raw.writableFinished) ctl.abort(new HttpError(400, 'bad_request', 'the client closed the connection'));
  };
  reply.raw.on('close', onClose);
  try {
    const jobs: ImageJob[] = uploads.map((u) => ({ image: u.name, plan, bytes: u.bytes }));
    const results = await ctx.queue.runAll(jobs, ctl.signal);
    for (const r of results) noteModels(ctx, plan, r);
    return results;
  } finally {
    clearTimeout(timer);
    ctl.abort(new HttpError(500, 'internal', 'request ended'));
    reply.raw.off('close', onClose);
  }
}

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

export function detectChoice(body: ParsedBody): Pick<PlanChoice, 'detector' | 'minScore' | 'maxFaces'> {
  const o = body.options;
  return {
    ...(o.detector !== undefined ? { detector: o.detector as string } : {}),
    ...(o.min_score !== undefined ? { minScore: o.min_score as number } : {}),
    ...(o.max_faces !== undefined ? { maxFaces: o.max_faces as number } : {}),
  };
}

/** A request that names a model must name the gallery's: embeddings of two models do not compare. */
export function checkModel(g: InMemoryGallery, body: ParsedBody): void {
  const m = body.options.model as RecognizerId | undefined;
  if (m !== undefined) assertSameModel(g.meta, { model: m, dim: RECOGNIZERS[m].dim }, 'gallery');
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
