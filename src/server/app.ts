/**
 * `facekit serve`: the pipeline over HTTP. Model work goes to a warm worker pool through a
 * bounded queue; the answers come from the same modules as the CLI's (runImage in the workers,
 * identify() for "who is this", verifyPair() for 1:1, the gallery module for every write).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import sharp from 'sharp';
import {
  DEFAULT_DETECTOR, DEFAULT_METRIC, DEFAULT_RECOGNIZER, RECOGNIZERS, isDetectorId, type DetectorId, type Metric, type RecognizerId,
} from '../models/catalogue.js';
import { FacekitError } from '../core/errors.js';
import { assertSameModel, type Gallery } from '../recognition/gallery.js';
import { DEFAULT_PLAN, type PipelinePlan } from '../pipeline/run.js';
import { WorkerPool, type ImageJob } from '../pipeline/pool.js';
import type { FaceRecord } from '../core/records.js';
import { packageDir, type BackendChoice } from '../models/runtime.js';
import { defaultThreshold, verifyPair } from '../stages/verification.js';
import { identify, type FaceAnswer } from '../cli/commands/verify.js';
import { modelRows, type ModelRow } from '../cli/commands/models.js';
import { startBackend } from '../cli/common.js';
import { VERSION } from '../core/version.js';
import { fromFacekit, HttpError, badRequest, statusFor, type ErrorBody } from './http-errors.js';
import { readBody, tooLarge, uploadsOf, type BodySpec, type ParsedBody, type Upload } from './inputs.js';
import { ModelQueue } from './queue.js';
import { GalleryStore, sha256, type NewFace } from './store.js';
import { galleryPhoto } from './photos.js';
import { openApiDocument } from './openapi.js';
import { INDEX_HTML } from './web/page.js';

export interface ServerOptions {
  db: string;
  host: string;
  port: number;
  workers: number;
  backend: BackendChoice;
  maxPixels: number;
  /** bytes */
  bodyLimit: number;
  /** per request, from its arrival to its answer */
  timeoutMs: number;
  /** images that may wait for a worker; more are refused with 503 */
  queue: number;
  /** images per request */
  maxBatch: number;
  debug: boolean;
  /** one line of talk (stderr) */
  log: (line: string) => void;
}

export interface RunningServer {
  url: string;
  app: FastifyInstance;
  backend: string;
  /** Stop taking requests, finish those under way and any gallery write, then stop the workers. */
  stop(opts?: { force?: boolean }): Promise<void>;
  inFlight(): number;
}

interface Context {
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

const round = (v: number) => Math.round(v * 1e4) / 1e4;

/* ---------------------------------------------------------------- start-up */

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const store = await GalleryStore.open(opts.db, { model: DEFAULT_RECOGNIZER, metric: DEFAULT_METRIC, flip: DEFAULT_PLAN.flip, detector: DEFAULT_DETECTOR });
  opts.log(`loading the models in ${opts.workers} worker${opts.workers === 1 ? '' : 's'}...`);
  // This thread starts the same backend as the workers do: it names it for /health, and a choice
  // that cannot run fails here with the CLI's own message.
  const backend = await startBackend({ backend: opts.backend, debug: opts.debug, maxPixels: opts.maxPixels });
  const pool = new WorkerPool(opts.workers, opts.backend, (job, stack) => {
    opts.log(`internal error on ${job.image}${opts.debug ? `\n${stack}` : ' (run with --debug for details)'}`);
  });
  const ctx: Context = {
    opts, store, queue: new ModelQueue(pool, opts.queue), backend, models: new Set(), started: Date.now(), stopping: false, inFlight: 0,
  };
  try {
    await warmUp(ctx, pool);
  } catch (err) {
    await pool.close();
    throw err;
  }
  const app = await buildApp(ctx);
  try {
    await app.listen({ host: opts.host, port: opts.port });
  } catch (err) {
    await pool.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new FacekitError('usage', `port ${opts.port} is already in use on ${opts.host} (choose another with --port, or --port 0 for any free one)`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new FacekitError('usage', `cannot bind to ${opts.host}: no such local address`, '--host');
    if (code === 'EACCES') throw new FacekitError('usage', `not allowed to bind to port ${opts.port} (ports below 1024 need privileges)`, '--port');
    throw err;
  }
  const addr = app.server.address();
  const url = typeof addr === 'object' && addr
    ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
    : `http://${opts.host}:${opts.port}`;

  let stopping: Promise<void> | undefined;
  const stop = async (s: { force?: boolean } = {}): Promise<void> => {
    ctx.stopping = true;
    if (s.force) app.server.closeAllConnections();
    if (!stopping) {
      stopping = (async () => {
        // A request stuck past its own deadline must not hold the shutdown forever.
        const guard = setTimeout(() => app.server.closeAllConnections(), opts.timeoutMs + 2000);
        guard.unref();
        await app.close();
        clearTimeout(guard);
        await store.idle(); // never leave a gallery write half done
        await pool.close();
      })();
    }
    return stopping;
  };
  return { url, app, backend, stop, inFlight: () => ctx.inFlight };
}

/**
 * Load the models in every worker before the first request: one photo with faces per worker, all
 * at once, so that each worker gets one and runs every stage.
 */
async function warmUp(ctx: Context, pool: WorkerPool): Promise<void> {
  const g = ctx.store.peek();
  const plan = planFor(ctx, g, { model: g.meta.model as RecognizerId });
  let bytes: Buffer;
  const sample = join(packageDir('@vladmandic/face-api'), 'demo', 'sample1.jpg');
  if (existsSync(sample)) bytes = await readFile(sample);
  else bytes = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } }).png().toBuffer();
  const results = await Promise.all(Array.from({ length: pool.size }, () => pool.run({ image: 'warm-up', plan, bytes })));
  for (const records of results) {
    const broken = records.find((r) => r.error && (r.error.code === 'backend' || r.error.code === 'internal'));
    if (broken) throw new FacekitError('backend', `the workers cannot run the models: ${broken.error!.message}`);
    noteModels(ctx, plan, records);
  }
}

function noteModels(ctx: Context, plan: PipelinePlan, records: FaceRecord[]): void {
  if (records.some((r) => r.detector === plan.detector)) ctx.models.add(plan.detector);
  if (records.some((r) => r.embedding)) ctx.models.add(plan.model);
}

/* ---------------------------------------------------------------- plans and model work */

interface PlanChoice {
  model: RecognizerId;
  detector?: string;
  minScore?: number;
  maxFaces?: number;
  upTo?: PipelinePlan['upTo'];
  largestOnly?: boolean;
}

function planFor(ctx: Context, g: Gallery, c: PlanChoice): PipelinePlan {
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

const arrival = new WeakMap<FastifyRequest, number>();

/**
 * Run uploads through the pipeline in the workers, within the request's time limit. Aborts (the
 * deadline, or the client going away) take the request's waiting images out of the queue.
 */
async function runUploads(ctx: Context, request: FastifyRequest, reply: FastifyReply, uploads: Upload[], plan: PipelinePlan): Promise<FaceRecord[][]> {
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

/** An image's records as an error when the image as a whole failed (not an image, no face, ...). */
function imageFailure(records: FaceRecord[]): HttpError | undefined {
  const faces = records.filter((r) => r.face !== null && !r.error);
  if (faces.length > 0) return undefined;
  const err = records.find((r) => r.error)?.error ?? { code: 'no_face' as const, message: 'no face found' };
  return fromFacekit(err, records[0]?.image);
}

function facePart(r: FaceRecord) {
  return { face: r.face, box: r.box, score: r.score, landmarks: r.landmarks };
}

/* ---------------------------------------------------------------- the app */

const MODEL_ROUTES = new Set(['/detect', '/represent', '/compare', '/verify', '/gallery']);

export async function buildApp(ctx: Context): Promise<FastifyInstance> {
  const { opts } = ctx;
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit,
    // fastify's own 503 while closing has another body shape; onRequest answers instead
    return503OnClosing: false,
    // receiving a whole request (slow uploads); the work itself has its own deadline
    requestTimeout: Math.max(60_000, opts.timeoutMs + 5000),
    forceCloseConnections: 'idle',
  });
  await app.register(multipart, {
    limits: { fileSize: opts.bodyLimit, fieldSize: opts.bodyLimit, files: opts.maxBatch + 2, fields: 32, parts: opts.maxBatch + 40 },
  });
  // text bodies are not an input of any endpoint: 415 rather than a confusing 400
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(/^image\/[\w.+-]+$/, { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, (_req, body, done) => done(null, body));
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (request, reply) => {
    arrival.set(request, Date.now());
    if (ctx.stopping) {
      reply.header('Connection', 'close');
      throw new HttpError(503, 'stopping', 'the server is shutting down', 5);
    }
    const len = Number(request.headers['content-length']);
    if (Number.isFinite(len) && len > opts.bodyLimit) throw tooLarge(opts.bodyLimit);
    // Refuse a burst before reading its bodies: the queue is the memory bound.
    if (request.method === 'POST' && MODEL_ROUTES.has(request.routeOptions.url ?? '') && !ctx.queue.canTake(1)) throw ctx.queue.overloaded();
    ctx.inFlight++;
    reply.raw.once('close', () => { ctx.inFlight--; });
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    // A request refused before its body was read (too large, overloaded, a bad field half way
    // through a multipart upload): read the rest and throw it away, so that the client, still
    // sending, gets the answer instead of a broken pipe. Beyond a bound the connection is closed.
    if (!request.raw.complete && !(await drain(request.raw, 4 * opts.bodyLimit, 10_000))) reply.header('Connection', 'close');
    if (ctx.stopping) reply.header('Connection', 'close');
  });

  app.setErrorHandler((err, request, reply) => {
    const e = toHttpError(err);
    if (e.status === 500) {
      opts.log(`${request.method} ${request.url}: ${e.code === 'internal' ? 'internal error: ' : ''}${String((err as Error)?.message ?? err).split('\n')[0]}${opts.debug || e.code !== 'internal' ? '' : ' (run with --debug for details)'}`);
      if (opts.debug && err instanceof Error && err.stack) opts.log(err.stack);
    }
    if (e.retryAfter !== undefined) reply.header('Retry-After', String(e.retryAfter));
    return reply.status(e.status).type('application/json; charset=utf-8').send(e.body());
  });
  app.setNotFoundHandler((request, reply) => {
    const e = new HttpError(404, 'not_found', `no such endpoint: ${request.method} ${request.url.split('?')[0]} (see GET /openapi.json)`);
    return reply.status(404).send(e.body());
  });

  registerRoutes(app, ctx);
  return app;
}

/** Read and discard the rest of a request body; false when it is over `maxBytes` or too slow. */
function drain(req: IncomingMessage, maxBytes: number, ms: number): Promise<boolean> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.resolve(false);
  return new Promise((resolve) => {
    let seen = 0;
    const done = (ok: boolean) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onFail).off('close', onClose);
      resolve(ok);
    };
    const onData = (c: Buffer) => {
      seen += c.length;
      if (seen > maxBytes) done(false);
    };
    const onEnd = () => done(true);
    const onFail = () => done(false);
    const onClose = () => done(req.complete);
    const timer = setTimeout(() => done(false), ms);
    req.unpipe(); // a multipart parser may still hold it, paused
    req.on('data', onData).on('end', onEnd).on('error', onFail).on('close', onClose);
    req.resume();
  });
}

/** Any error a handler or fastify raises, as an HttpError: never a stack trace to the client. */
function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof FacekitError) return fromFacekit(err);
  const e = err as { code?: string; statusCode?: number; message?: string };
  const msg = (e?.message ?? String(err)).split('\n')[0]!;
  switch (e?.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HttpError(400, 'bad_json', 'the body is not valid JSON (Content-Type says application/json)');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpError(400, 'bad_json', 'the body is empty but Content-Type says JSON');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new HttpError(413, 'too_large', `request is over a limit: ${msg} (serve --body-limit, --max-batch)`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new HttpError(415, 'unsupported_media_type', 'send application/json, multipart/form-data, or the image itself (Content-Type image/...)');
    case 'FST_PROTO_VIOLATION':
      return new HttpError(400, 'bad_request', msg);
  }
  if (err instanceof SyntaxError) return new HttpError(400, 'bad_json', `the body is not valid JSON (${msg})`);
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new HttpError(e.statusCode, 'bad_request', msg);
  }
  return new HttpError(500, 'internal', 'internal error (the server log has details)');
}

/* ---------------------------------------------------------------- routes */

const DETECT_OPTIONS: BodySpec['options'] = {
  detector: { kind: 'detector' },
  min_score: { kind: 'number', min: 0, max: 1 },
  max_faces: { kind: 'int', min: 1, max: 100 },
};

function registerRoutes(app: FastifyInstance, ctx: Context): void {
  const { opts, store } = ctx;
  const read = (request: FastifyRequest, spec: BodySpec) => readBody(request, spec, opts.bodyLimit);
  let rows: ModelRow[] | undefined;

  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8')
    .header('Content-Security-Policy', "default-src 'self'; img-src 'self' blob: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
    .send(INDEX_HTML));

  app.get('/openapi.json', async () => openApiDocument({ bodyLimit: opts.bodyLimit, maxBatch: opts.maxBatch, version: VERSION }));

  app.get('/health', async () => {
    const g = store.peek();
    return {
      status: ctx.stopping ? 'stopping' : 'ok',
      version: VERSION,
      backend: ctx.backend,
      workers: ctx.queue.stats().workers,
      models: [...ctx.models],
      gallery: { path: store.dbPath, model: g.meta.model, metric: g.meta.metric, people: g.labels().size, faces: g.size },
      queue: ctx.queue.stats(),
      uptime: Math.round((Date.now() - ctx.started) / 1000),
    };
  });

  app.get('/models', async () => {
    rows ??= modelRows();
    return { models: rows.map((r) => ({ ...r, loaded: ctx.models.has(r.id) })) };
  });

  app.post('/detect', async (request, reply) => {
    const body = await read(request, { images: { image: 1 }, options: DETECT_OPTIONS });
    const upload = one(body, 'image');
    const g = store.peek();
    const plan = planFor(ctx, g, { model: g.meta.model as RecognizerId, ...detectChoice(body), upTo: 'detect' });
    const [records] = await runUploads(ctx, request, reply, [upload], plan);
    const fail = imageFailure(records!);
    if (fail) throw fail;
    const r0 = records![0]!;
    return { image: upload.name, width: r0.width, height: r0.height, detector: plan.detector, faces: records!.map(facePart) };
  });

  app.post('/represent', async (request, reply) => {
    const body = await read(request, {
      images: { image: 1, images: opts.maxBatch }, options: { model: { kind: 'model' }, ...DETECT_OPTIONS },
    });
    const uploads = uploadsOf(body, 'image', 'images');
    if (uploads.length === 0) throw badRequest('send an image in "image", or several in "images"');
    if (uploads.length > opts.maxBatch) throw badRequest(`at most ${opts.maxBatch} images per request (serve --max-batch)`);
    const g = store.peek();
    const model = (body.options.model as RecognizerId | undefined) ?? (g.meta.model as RecognizerId);
    const plan = planFor(ctx, g, { model, ...detectChoice(body) });
    const results = await runUploads(ctx, request, reply, uploads, plan);
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

  app.post('/compare', async (request, reply) => {
    const body = await read(request, {
      images: { image1: 1, image2: 1 },
      aliases: { image1_base64: 'image1', image2_base64: 'image2' },
      options: { model: { kind: 'model' }, metric: { kind: 'metric' }, threshold: { kind: 'number', min: 0 }, ...DETECT_OPTIONS },
    });
    const a = one(body, 'image1', '"image1" (or "image1_base64")');
    const b = one(body, 'image2', '"image2" (or "image2_base64")');
    const g = store.peek();
    const model = (body.options.model as RecognizerId | undefined) ?? (g.meta.model as RecognizerId);
    const metric = (body.options.metric as Metric | undefined) ?? DEFAULT_METRIC;
    const threshold = (body.options.threshold as number | undefined) ?? defaultThreshold(model, metric);
    const plan = planFor(ctx, g, { model, ...detectChoice(body), largestOnly: true });
    const [ra, rb] = await runUploads(ctx, request, reply, [a, b], plan);
    const side = (records: FaceRecord[], u: Upload) => {
      const fail = imageFailure(records);
      if (fail) throw fail;
      const f = records.find((r) => r.embedding);
      if (!f) throw fromFacekit(records.find((r) => r.error)?.error ?? { code: 'no_face', message: 'no face found' }, u.name);
      return { face: f, info: { image: u.name, width: f.width, height: f.height, face: f.face, box: f.box, faces: records.filter((r) => r.face !== null && !r.error).length } };
    };
    const sa = side(ra!, a), sb = side(rb!, b);
    const v = verifyPair(sa.face.embedding!.vector, sb.face.embedding!.vector, metric, threshold);
    return {
      verified: v.same, verdict: v.same ? 'same' : 'different',
      similarity: round(v.similarity), distance: round(v.distance), threshold, metric, model,
      image1: sa.info, image2: sb.info,
    };
  });

  app.post('/verify', async (request, reply) => {
    const body = await read(request, {
      images: { image: 1 },
      options: {
        top_k: { kind: 'int', min: 1, max: 100 }, threshold: { kind: 'number', min: 0 }, metric: { kind: 'metric' },
        model: { kind: 'model' }, ...DETECT_OPTIONS,
      },
    });
    const upload = one(body, 'image');
    const g = await store.current();
    checkModel(g, body);
    if (g.size === 0) throw new HttpError(409, 'empty_gallery', 'the gallery is empty: add people first (POST /gallery, or facekit build-db)');
    const metric = (body.options.metric as Metric | undefined) ?? g.meta.metric;
    const threshold = (body.options.threshold as number | undefined) ?? defaultThreshold(g.meta.model, metric);
    const topK = (body.options.top_k as number | undefined) ?? 3;
    const plan = planFor(ctx, g, { model: g.meta.model as RecognizerId, ...detectChoice(body) });
    const [records] = await runUploads(ctx, request, reply, [upload], plan);
    const fail = imageFailure(records!);
    if (fail) throw fail;
    const now = await store.current(); // the gallery may have changed while the image was in work
    const faces = records!.filter((r) => r.face !== null);
    const answers = identify(now, faces, { metric, threshold, topK });
    const r0 = records![0]!;
    return {
      image: upload.name, width: r0.width, height: r0.height, model: now.meta.model, metric, threshold,
      faces: answers.map((a) => withPhotos(now, a)),
    };
  });

  app.get('/gallery', async () => {
    const g = await store.current();
    const people = new Map<string, { photo: string; face: number }[]>();
    for (const e of g.entries) {
      const list = people.get(e.label) ?? [];
      list.push({ photo: photoUrl(e.hash), face: e.face });
      people.set(e.label, list);
    }
    return {
      path: store.dbPath, model: g.meta.model, dim: g.meta.dim, metric: g.meta.metric,
      threshold: defaultThreshold(g.meta.model, g.meta.metric), faces: g.size,
      people: [...people].sort(([a], [b]) => a.localeCompare(b)).map(([label, photos]) => ({ label, faces: photos.length, photos })),
    };
  });

  app.post('/gallery', async (request, reply) => {
    const body = await read(request, {
      images: { image: opts.maxBatch, images: opts.maxBatch },
      options: { label: { kind: 'string' }, model: { kind: 'model' }, detector: { kind: 'detector' }, min_score: DETECT_OPTIONS.min_score! },
      required: ['label'],
    });
    const label = checkLabel(body.options.label as string);
    const uploads = uploadsOf(body, 'image', 'images');
    if (uploads.length === 0) throw badRequest('send the person\'s photos in "image" or "images"');
    if (uploads.length > opts.maxBatch) throw badRequest(`at most ${opts.maxBatch} photos per request (serve --max-batch)`);
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

function one(body: ParsedBody, field: string, what = `"${field}"`): Upload {
  const u = uploadsOf(body, field);
  if (u.length === 0) throw badRequest(`no image: send one in ${what} (a file upload, base64 or a data: URL)`);
  return u[0]!;
}

function detectChoice(body: ParsedBody): Pick<PlanChoice, 'detector' | 'minScore' | 'maxFaces'> {
  const o = body.options;
  return {
    ...(o.detector !== undefined ? { detector: o.detector as string } : {}),
    ...(o.min_score !== undefined ? { minScore: o.min_score as number } : {}),
    ...(o.max_faces !== undefined ? { maxFaces: o.max_faces as number } : {}),
  };
}

/** A request that names a model must name the gallery's: embeddings of two models do not compare. */
function checkModel(g: Gallery, body: ParsedBody): void {
  const m = body.options.model as RecognizerId | undefined;
  if (m !== undefined) assertSameModel(g.meta, { model: m, dim: RECOGNIZERS[m].dim }, 'gallery');
}

function checkLabel(raw: string): string {
  const label = raw.trim();
  if (label === '') throw badRequest('"label" must not be empty');
  if (label.length > 100) throw badRequest('"label" must be at most 100 characters');
  if (/[\u0000-\u001f\u007f]/.test(label)) throw badRequest('"label" must not hold control characters');
  return label;
}

function photoUrl(hash: string): string {
  return `/gallery/photos/${hash}`;
}

/** identify()'s answer, with where the page can fetch each candidate's gallery photo. */
function withPhotos(g: Gallery, a: FaceAnswer) {
  const byImage = new Map<string, { hash: string; face: number }>();
  for (const e of g.entries) if (!byImage.has(e.image)) byImage.set(e.image, { hash: e.hash, face: e.face });
  return {
    ...a,
    candidates: a.candidates.map((c) => {
      const e = byImage.get(c.image);
      return { ...c, ...(e ? { photo: photoUrl(e.hash), face: e.face } : {}) };
    }),
  };
}
