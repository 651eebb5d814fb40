/**
 * deepface's REST service (deepface/api/src/modules/core/routes.py), served by facekit (serve
 * --compat): POST /represent, /verify and /analyze, which share facekit's own paths (deepface's
 * field names on a request choose deepface's answer: context.ts postRoute), and the stateful
 * POST /register, /search and /build/index over the served gallery.
 *
 * - Fields and answers are deepface's (deepface-fields.ts has the names and what each model and
 *   detector name stands for). Images come as files, base64 or data: URLs; a path or a URL is
 *   refused with a 400 that says to send the bytes: this server never reads a file a request
 *   names, nor fetches anything.
 * - What facekit does not estimate is left out, never made up: race (dominant_race) in /analyze.
 * - Errors are deepface's {"exception": ...} (the request) and {"error": ...} (the verb), 400, with
 *   facekit's "code" beside; the server's own refusals keep their status (deepfaceErrors).
 * - /register adds the largest face of the photo under img_name (Gallery.add); /search finds each
 *   face of the photo in the gallery (Gallery.identifyMany), exact or "ann" alike: the gallery
 *   runs its own search, an index included where it keeps one; /build/index says so.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { analysisOptions, type FaceAnswer, type FaceRecord, type Metric, type Point, type RecognizerId } from '../../index.js';
import { FacekitError } from '../../core/errors.js';
import { HttpError, badRequest, fromFacekit } from '../http-errors.js';
import { uploadsOf, type ParsedBody, type Upload } from '../inputs.js';
import { matchScore } from '../score.js';
import { addPhotos, checkLabel } from '../gallery-add.js';
import { all, answerErrorsAs, emptyGallery, imageFailure, items, read, withDeadline, type Context } from '../context.js';
import {
  ANALYZE, BUILD_INDEX, REGISTER, REPRESENT, SEARCH, VERIFY, deepfaceErrors, detectorName, detectorOf, modelOf, noSkip, type DetectorChoice,
} from '../deepface-fields.js';
import { facialArea } from './compat-workshop.js';

/** The routes of deepface's only (facekit has none of these paths) that run models: refused at once when the queue is full. */
export const DEEPFACE_MODEL_ROUTES = ['/register', '/search'];
/** How messages and the answers' choice of API name it. */
export const DEEPFACE = 'deepface';
/** /search's candidates per face when the request gives no k (deepface's: every face within the threshold). */
const SEARCH_K = 100;

const round2 = (v: number) => Math.round(v * 100) / 100;
const confidence = (distance: number, threshold: number) => round2(matchScore(distance, threshold) * 100);

/** A request deepface's fields chose: errors from here on are deepface's, "exception" while it is read. */
const chosen = (request: FastifyRequest) => answerErrorsAs(request, deepfaceErrors('exception'));

export function registerDeepfaceRoutes(app: FastifyInstance, ctx: Context): void {
  ctx.shared ??= new Map();
  ctx.shared.set('/represent', { name: DEEPFACE, spec: REPRESENT, chosen, answer: (rq, rp, body) => represent(ctx, rq, rp, body) });
  ctx.shared.set('/verify', { name: DEEPFACE, spec: VERIFY, chosen, answer: (rq, rp, body) => verify(ctx, rq, rp, body) });
  ctx.shared.set('/analyze', { name: DEEPFACE, spec: ANALYZE, chosen, answer: (rq, rp, body) => analyze(ctx, rq, rp, body) });

  // deepface's own paths answer its errors from the start: a body that is not JSON (read before
  // the handler runs) too; the API key and the server's load are checked before, in facekit's shape
  const own = { onRequest: async (request: FastifyRequest) => chosen(request) };
  app.post('/register', own, async (request, reply) => register(ctx, request, reply, await read(ctx, request, REGISTER)));
  app.post('/search', own, async (request, reply) => search(ctx, request, reply, await read(ctx, request, SEARCH)));
  app.post('/build/index', own, async (request) => {
    const body = await read(ctx, request, BUILD_INDEX);
    answerErrorsAs(request, deepfaceErrors('error', 'building index'));
    return buildIndex(ctx, body);
  });
}

/* ---------------------------------------------------------------- answers */

/** deepface's facial_area: x, y, w, h in whole pixels and the points named from the person's side (compat-workshop.ts). */
export function deepfaceArea(r: Pick<FaceRecord, 'box' | 'landmarks' | 'width' | 'height'>) {
  const p = (q: Point | undefined): [number, number] | null => (q ? [Math.round(q[0]), Math.round(q[1])] : null);
  const l = r.landmarks;
  return { ...facialArea(r as FaceRecord), nose: p(l?.noseTip), mouth_left: p(l?.mouthRight), mouth_right: p(l?.mouthLeft) };
}

/** The image of a deepface field, or deepface's refusal (an "exception"). */
function imageOf(body: ParsedBody, field: string): Upload {
  const u = uploadsOf(body, field)[0];
  if (!u) throw badRequest(`'${field}' not found in the request: send the image in "${field}" (or "${field}_path") as a file upload, base64 or a data: URL`);
  return u;
}

/** The model a request names, mapped; it must be the gallery's where the gallery's faces are compared (409, answered 400). */
function modelFor(ctx: Context, body: ParsedBody): RecognizerId {
  return modelOf(body.options.model_name) ?? (ctx.gallery.meta.model as RecognizerId);
}

/** Embeddings to compare with the gallery's are made as the gallery's were; another model, with the request's detector. */
function settingsFor(ctx: Context, model: RecognizerId, d: DetectorChoice) {
  const base = model === ctx.gallery.meta.model ? ctx.gallery.settings() : { model };
  return { ...base, detector: d.detector, skipDetect: d.skipDetect };
}

/** The faces of one image, or the image's failure; "no face" is none with enforce_detection: false (an answer with no results). */
function facesOf(records: FaceRecord[], body: ParsedBody, spoofCheck = false): FaceRecord[] {
  const spoof = spoofCheck ? records.find((r) => r.error?.code === 'spoof') : undefined;
  if (spoof) throw fromFacekit(spoof.error!, spoof.image);
  const fail = imageFailure(records);
  if (fail && !(fail.code === 'no_face' && body.options.enforce_detection === false)) throw fail;
  return records.filter((r) => r.face !== null && !r.error);
}

async function represent(ctx: Context, request: FastifyRequest, reply: FastifyReply, body: ParsedBody) {
  const upload = imageOf(body, 'img');
  const o = body.options;
  const model = modelFor(ctx, body);
  const d = detectorOf(ctx, o.detector_backend);
  answerErrorsAs(request, deepfaceErrors('error', 'representing'));
  const [records] = await withDeadline(ctx, request, reply, (signal) => all(ctx.facekit.batch('represent', items([upload]), {
    ...settingsFor(ctx, model, d), maxFaces: o.max_faces as number | undefined, antiSpoof: o.anti_spoofing === true, signal,
  })));
  const faces = facesOf(records!, body, o.anti_spoofing === true).filter((r) => r.embedding);
  return {
    results: faces.map((r) => ({ embedding: r.embedding!.vector, facial_area: deepfaceArea(r), face_confidence: round2(r.score ?? 0) })),
    model, detector_backend: detectorName(d),
  };
}

async function verify(ctx: Context, request: FastifyRequest, reply: FastifyReply, body: ParsedBody) {
  const a = imageOf(body, 'img1');
  const b = imageOf(body, 'img2');
  const o = body.options;
  const model = modelFor(ctx, body);
  const d = detectorOf(ctx, o.detector_backend);
  const metric = (o.distance_metric as Metric | undefined) ?? 'cosine';
  answerErrorsAs(request, deepfaceErrors('error', 'verifying'));
  const t0 = performance.now();
  const v = await withDeadline(ctx, request, reply, (signal) => ctx.facekit.verify(a.bytes, b.bytes, {
    ...settingsFor(ctx, model, d), metric, threshold: o.threshold as number | undefined, antiSpoof: o.anti_spoofing === true, names: [a.name, b.name], signal,
  })).catch((err: unknown) => {
    throw err instanceof FacekitError && err.where !== undefined && err.code !== 'usage' ? fromFacekit(err, err.where) : err;
  });
  return {
    verified: v.verified, distance: v.distance, threshold: v.threshold, confidence: confidence(v.distance, v.threshold),
    model: v.model, detector_backend: detectorName(d), similarity_metric: metric,
    facial_areas: { img1: deepfaceArea(v.faces[0]), img2: deepfaceArea(v.faces[1]) },
    time: round2((performance.now() - t0) / 1000),
  };
}

const GENDER = { woman: 'Woman', man: 'Man' } as const;

async function analyze(ctx: Context, request: FastifyRequest, reply: FastifyReply, body: ParsedBody) {
  const upload = imageOf(body, 'img');
  const o = body.options;
  const d = detectorOf(ctx, o.detector_backend);
  noSkip(d, '/analyze');
  const asked = String(o.actions ?? 'age,gender,emotion,race').split(',');
  const spoofCheck = o.anti_spoofing === true;
  const actions = [...asked.filter((a) => a !== 'race'), ...(spoofCheck ? ['spoof'] : [])];
  answerErrorsAs(request, deepfaceErrors('error', 'analyzing'));
  const [records] = await withDeadline(ctx, request, reply, (signal) => all(actions.length
    ? ctx.facekit.batch('analyze', items([upload]), { detector: d.detector, ...analysisOptions({ actions }), signal })
    : ctx.facekit.batch('detect', items([upload]), { detector: d.detector, signal })));
  const faces = facesOf(records!, body);
  if (spoofCheck && faces.some((r) => r.analysis?.spoof?.real === false)) {
    throw new HttpError(422, 'spoof', 'Spoof detected in the given image.');
  }
  const results = faces.map((r) => {
    const a = r.analysis ?? {};
    const out: Record<string, unknown> = {};
    if (asked.includes('age') && a.age !== undefined) out.age = Math.round(a.age);
    if (asked.includes('gender') && a.gender !== undefined) {
      const p = round2((a.genderScore ?? 1) * 100);
      out.gender = a.gender === 'woman' ? { Woman: p, Man: round2(100 - p) } : { Woman: round2(100 - p), Man: p };
      out.dominant_gender = GENDER[a.gender];
    }
    if (asked.includes('emotion') && a.emotion && a.dominantEmotion) {
      out.emotion = Object.fromEntries(Object.entries(a.emotion).map(([k, v]) => [k, round2(v * 100)]));
      out.dominant_emotion = a.dominantEmotion;
    }
    return { ...out, region: deepfaceArea(r), face_confidence: round2(r.score ?? 0) };
  });
  return {
    results,
    ...(asked.includes('race') ? { warnings: ['race is not estimated by facekit: "race" and "dominant_race" are left out'] } : {}),
  };
}

async function register(ctx: Context, request: FastifyRequest, reply: FastifyReply, body: ParsedBody) {
  const upload = imageOf(body, 'img');
  const o = body.options;
  const d = detectorOf(ctx, o.detector_backend);
  noSkip(d, '/register');
  if (o.anti_spoofing === true) throw badRequest('anti_spoofing is not offered by /register: check the photo with POST /analyze (anti_spoofing: true) first');
  // deepface names an entry by img_name, else by the image's file name, else by a new uuid
  const label = checkLabel(o.img_name !== undefined ? String(o.img_name) : upload.name !== upload.field ? upload.name : randomUUID(), 'img_name');
  answerErrorsAs(request, deepfaceErrors('error', 'registering'));
  const out = await addPhotos(ctx, request, reply, label, [upload], { model: modelOf(o.model_name), detector: d.detector });
  if (out.added.length === 0) {
    const s = out.skipped[0]!;
    throw badRequest(`Duplicate detected: this photo is in the gallery already (as "${s.label}")`);
  }
  return { inserted: out.added.length, img_name: label };
}

async function search(ctx: Context, request: FastifyRequest, reply: FastifyReply, body: ParsedBody) {
  const upload = imageOf(body, 'img');
  const o = body.options;
  const d = detectorOf(ctx, o.detector_backend);
  const metric = (o.distance_metric as Metric | undefined) ?? 'cosine';
  const similar = o.similarity_search === true;
  const k = o.k as number | undefined;
  answerErrorsAs(request, deepfaceErrors('error', 'searching'));
  const { gallery } = ctx;
  const empty = () => emptyGallery(', POST /register');
  if (gallery.counts().faces === 0) await gallery.refresh();
  if (gallery.counts().faces === 0) throw empty();
  const answers = await withDeadline(ctx, request, reply, (signal) => all(gallery.identifyMany(items([upload]), {
    metric, topK: k ?? SEARCH_K, detector: d.detector, skipDetect: d.skipDetect, antiSpoof: o.anti_spoofing === true, model: modelOf(o.model_name), signal,
  }))).catch((err: unknown) => {
    throw (err as { code?: string }).code === 'bad_gallery' ? empty() : err;
  });
  const spoof = answers.find((a) => a.error?.code === 'spoof');
  if (spoof) throw fromFacekit(spoof.error!, upload.name);
  const found = answers.filter((a) => a.verdict !== 'error');
  if (found.length === 0 && !(answers[0]?.error?.code === 'no_face' && o.enforce_detection === false)) {
    throw fromFacekit(answers[0]?.error ?? { code: 'no_face', message: 'no face found' }, upload.name);
  }
  return { results: await Promise.all(found.map((a) => rowsOf(ctx, a, { similar, method: String(o.search_method ?? 'exact'), detector: detectorName(d), aligned: !d.skipDetect }))) };
}

/** One face's matches as deepface's rows: one per gallery identity (its nearest face), nearest first. */
async function rowsOf(ctx: Context, a: FaceAnswer, s: { similar: boolean; method: string; detector: string; aligned: boolean }) {
  const target = facialArea({ box: a.box } as FaceRecord);
  const kept = a.candidates.filter((c) => s.similar || c.distance <= a.threshold);
  return Promise.all(kept.map(async (c) => ({
    id: (await ctx.gallery.entryOfImage(c.image))?.hash ?? null,
    img_name: c.label, model_name: ctx.gallery.meta.model, detector_backend: s.detector, aligned: s.aligned, search_method: s.method,
    target_x: target.x, target_y: target.y, target_w: target.w, target_h: target.h,
    threshold: a.threshold, distance_metric: a.metric, distance: c.distance, confidence: confidence(c.distance, a.threshold),
  })));
}

async function buildIndex(ctx: Context, body: ParsedBody) {
  const m = modelOf(body.options.model_name);
  const info = await ctx.gallery.info();
  if (m !== undefined && m !== info.model) throw new HttpError(409, 'model_mismatch', `the gallery holds ${info.model} embeddings; model_name "${String(body.options.model_name)}" stands for ${m}`);
  if (info.faces === 0) throw emptyGallery(', POST /register');
  return {
    message: `nothing to build: facekit's gallery keeps its own search up to date as faces are added (${info.search}); /search uses it for "exact" and "ann" alike`,
    search: info.search, faces: info.faces,
  };
}
