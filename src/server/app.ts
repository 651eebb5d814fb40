/**
 * `facekit serve`: the pipeline over HTTP. This module starts and stops the server: the worker
 * pool and its warm-up, fastify with its body parsers and CORS (cors.ts), the hooks every request
 * passes (the API key of auth.ts, refusals while stopping or overloaded, reading unread bodies to
 * their end), and the one error handler that answers every failure as JSON. The routes live in
 * routes/, one module per resource; what they share (the Context, plans, running uploads in the
 * workers) in context.ts. With --compat, routes/compat-*.ts also serve the APIs facekit replaces.
 */
import type { IncomingMessage } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import Fastify, { type FastifyReply, type FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import cors from '@fastify/cors';
import { DEFAULT_DETECTOR, DEFAULT_METRIC, DEFAULT_RECOGNIZER, Facekit, Gallery, loadHead, storeOf, type ServerHandle } from '../index.js';
import { FacekitError } from '../core/errors.js';
import { fromFacekit, HttpError } from './http-errors.js';
import { tooLarge } from './inputs.js';
import { jsonBody } from './json-body.js';
import { apiKeyCheck, resolveApiKey } from './auth.js';
import { corsOptions, parseOrigins } from './cors.js';
import { errorShapeOf, noteArrival, type Context, type ServerOptions } from './context.js';
import { registerDocs } from './routes/docs.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerDetectRoutes } from './routes/detect.js';
import { registerAnalyzeRoutes } from './routes/analyze.js';
import { registerRepresentRoutes } from './routes/represent.js';
import { registerCompareRoutes } from './routes/compare.js';
import { registerVerifyRoutes } from './routes/verify.js';
import { registerSimilarRoutes } from './routes/similar.js';
import { registerGalleryRoutes } from './routes/gallery.js';
import { WORKSHOP_MODEL_ROUTES, WORKSHOP_ROOT, registerWorkshopRoutes } from './routes/compat-workshop.js';
import { FLASK_MODEL_ROUTES, registerFlaskRoutes } from './routes/compat-flask.js';
import { DEEPFACE_MODEL_ROUTES, registerDeepfaceRoutes } from './routes/compat-deepface.js';

export type { Context, ServerOptions } from './context.js';

export interface RunningServer extends ServerHandle {
  app: FastifyInstance;
}

/* ---------------------------------------------------------------- start-up */

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  // the key and the origins are checked before the slow start-up: a typo fails at once
  const opts: ServerOptions = { ...options, apiKey: resolveApiKey(options.apiKey), cors: parseOrigins(options.cors) };
  // Photos added over HTTP are kept beside a gallery file, a database gallery's in db/photos, or
  // in the store --photos names (shared by the instances of one database gallery); the path is
  // absolute so that entries name it whatever folder a reader runs in.
  const photos = resolve(opts.photos ?? (storeOf(opts.db) === 'file' ? join(dirname(opts.db), 'photos') : 'db/photos'));
  opts.photos = photos;
  // The warm engine: every image runs in its worker threads, behind a bounded queue.
  const facekit = new Facekit({
    backend: opts.backend, workers: opts.workers, maxPixels: opts.maxPixels, warm: true, queue: opts.queue,
    onWorkerCrash: (image, stack) => opts.log(`internal error on ${image}${opts.debug ? `\n${stack}` : ' (run with --debug for details)'}`),
  });
  let gallery: Gallery | undefined;
  try {
    gallery = await Gallery.open(opts.db, { engine: facekit, photos, ...(opts.efSearch !== undefined ? { efSearch: opts.efSearch } : {}), create: opts.subject === 'image' ? { subject: 'image', metric: DEFAULT_METRIC } : { model: DEFAULT_RECOGNIZER, metric: DEFAULT_METRIC, detector: DEFAULT_DETECTOR } });
    // A file gallery opens on its header alone (a cold verify reads the rest when it searches);
    // a server reads all of it now, so that a damaged sidecar refuses the start, not a request.
    await gallery.refresh();
    opts.log(`loading the models in ${opts.workers} worker${opts.workers === 1 ? '' : 's'}...`);
    // This thread starts the same backend as the workers do: it names it for /health, and a choice
    // that cannot run fails here with the CLI's own message.
    const backend = await facekit.startBackend();
    // the models load in every worker before the first request
    await facekit.warmUp(gallery.settings());
    // a head that cannot be read refuses the start, not a request
    const head = opts.head === undefined ? undefined : await loadHead(opts.head);
    if (head) opts.log(`head ${opts.head}: ${head.kind} on ${head.recognizer} (POST /compare with model ${head.recognizer} decides with it)`);
    const ctx: Context = { opts, facekit, gallery, backend, started: Date.now(), stopping: false, inFlight: 0, ...(head ? { head } : {}) };
    return await listen(ctx);
  } catch (err) {
    await gallery?.close();
    await facekit.close();
    throw err;
  }
}

async function listen(ctx: Context): Promise<RunningServer> {
  const { opts, facekit, gallery } = ctx;
  const app = await buildApp(ctx);
  if (opts.apiKey !== undefined) opts.log('an API key is needed on every route but /, /docs and /openapi.json (Authorization: Bearer KEY, or X-API-Key: KEY)');
  if (opts.cors) opts.log(`cross-origin requests allowed from ${opts.cors.join(', ')}`);
  if (opts.compat) opts.log(`also serving the workshop's API (/status, /echo, /detect-face, /recognize-face, also under ${WORKSHOP_ROOT}) and the Flask face API (/api/...), and deepface's REST API (/represent, /verify, /analyze with deepface's fields; /register, /search, /build/index)`);
  try {
    await app.listen({ host: opts.host, port: opts.port });
  } catch (err) {
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
        await gallery.close(); // never leave a gallery write half done
        await facekit.close();
      })();
    }
    return stopping;
  };
  return {
    url, app, backend: ctx.backend, keyRequired: opts.apiKey !== undefined, stop, inFlight: () => ctx.inFlight,
    gallery: { location: gallery.location, model: gallery.meta.model, ...gallery.counts() },
  };
}

/* ---------------------------------------------------------------- the app */

const MODEL_ROUTES = new Set(['/detect', '/analyze', '/represent', '/compare', '/verify', '/gallery', ...WORKSHOP_MODEL_ROUTES, ...FLASK_MODEL_ROUTES, ...DEEPFACE_MODEL_ROUTES]);

/** The routes, one module per resource, each registering its endpoints on the app. */
const ROUTES: ((app: FastifyInstance, ctx: Context) => void)[] = [
  registerHealthRoutes, registerDetectRoutes, registerAnalyzeRoutes, registerRepresentRoutes, registerCompareRoutes, registerVerifyRoutes, registerSimilarRoutes, registerGalleryRoutes,
];
/** The routes of the APIs facekit replaces (serve --compat). */
const COMPAT_ROUTES: ((app: FastifyInstance, ctx: Context) => void)[] = [registerWorkshopRoutes, registerFlaskRoutes, registerDeepfaceRoutes];

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
    // Errors fastify raises before a route runs (a URL that is not valid percent-encoding) keep
    // the server's one error shape.
    frameworkErrors: (error, _request, reply) => {
      const r = reply as unknown as FastifyReply;
      void r.status(400).type('application/json; charset=utf-8')
        .send({ error: { code: 'bad_request', message: `bad request: ${error.message.split('\n')[0]}` } });
    },
    // HTTP that cannot even be parsed (a garbage request line, Content-Length with chunked):
    // answered on the socket, in the same JSON shape, then closed.
    clientErrorHandler: (err, socket) => {
      if (!socket.writable) return void socket.destroy();
      const body = JSON.stringify({ error: { code: 'bad_request', message: `malformed HTTP request (${(err as NodeJS.ErrnoException).code ?? err.message})` } });
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    },
  });
  await app.register(multipart, {
    limits: { fileSize: opts.bodyLimit, fieldSize: opts.bodyLimit, files: opts.maxBatch + 2, fields: 32, parts: opts.maxBatch + 40 },
  });
  // CORS (--cors) before the hooks below: a preflight (OPTIONS, which a browser sends without the
  // API key) is answered before the key is checked, and every other answer, a 401 included,
  // carries the allowed origin so that the page of that origin can read it.
  await registerDocs(app, ctx);
  const origins = parseOrigins(opts.cors);
  if (origins) await app.register(cors, corsOptions(origins));
  const checkKey = apiKeyCheck(opts.apiKey);
  // requests answered whose bodies are still being read and thrown away (discardRest)
  const discarding = new Set<IncomingMessage>();
  // at shutdown they are answered already: their connections need not be waited for
  app.addHook('preClose', async () => {
    for (const req of discarding) req.socket?.destroy?.();
  });
  // text bodies are not an input of any endpoint: 415 rather than a confusing 400
  app.removeContentTypeParser('text/plain');
  // JSON with facekit's guards (nesting depth, no __proto__): a hostile body is a 400 in
  // milliseconds, and other requests are not held up
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: opts.bodyLimit }, (_req, body, done) => {
    try {
      done(null, jsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addContentTypeParser(/^image\/[\w.+-]+$/, { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, (_req, body, done) => done(null, body));
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (request, reply) => {
    noteArrival(request);
    checkKey?.(request);
    if (ctx.stopping) {
      reply.header('Connection', 'close');
      throw new HttpError(503, 'stopping', 'the server is shutting down', 5);
    }
    const len = Number(request.headers['content-length']);
    if (Number.isFinite(len) && len > opts.bodyLimit) throw tooLarge(opts.bodyLimit);
    // Refuse a burst before reading its bodies: the queue is the memory bound.
    if (request.method === 'POST' && MODEL_ROUTES.has(request.routeOptions.url ?? '') && !ctx.facekit.accepts(1)) throw overloaded(ctx);
    ctx.inFlight++;
    reply.raw.once('close', () => { ctx.inFlight--; });
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    // (complete is false only on a socket's request: fastify's inject() has none, and no body left to read)
    if (request.raw.complete === false) {
      // Answered before its body was read: refused at once (too large, overloaded, no API key) or
      // half way through a multipart upload (too many images, a bad field). The rest of the body
      // is read and thrown away, after the answer too, so that a client still sending gets the
      // answer rather than a reset connection; see discardRest.
      const rest = discardRest(request.raw, discarding, Math.max(DISCARD_BYTES, 4 * opts.bodyLimit));
      if (rest === undefined) reply.header('Connection', 'close');
      // A closing connection is closed as soon as the answer is out: the client must be done first.
      // It closes when the server stops, and when the client asked for it (Node's http.request
      // with agent: false, curl -H 'Connection: close', HTTP/1.0 clients): closed with the rest
      // of the body unread, the kernel resets it and the client sees EPIPE, not the answer.
      else if (ctx.stopping || closesAfter(request.raw)) await Promise.race([rest, new Promise((r) => setTimeout(r, 5000).unref())]);
    }
    if (ctx.stopping) reply.header('Connection', 'close');
  });

  app.setErrorHandler((err, request, reply) => {
    const e = toHttpError(err, opts);
    if (e.status === 500) {
      opts.log(`${request.method} ${request.url}: ${e.code === 'internal' ? 'internal error: ' : ''}${String((err as Error)?.message ?? err).split('\n')[0]}${opts.debug || e.code !== 'internal' ? '' : ' (run with --debug for details)'}`);
      if (opts.debug && err instanceof Error && err.stack) opts.log(err.stack);
    }
    if (e.retryAfter !== undefined) reply.header('Retry-After', String(e.retryAfter));
    for (const [k, v] of Object.entries(e.headers)) reply.header(k, v);
    // a request another API's fields chose (serve --compat) is answered in that API's shape
    const shaped = errorShapeOf(request)?.(e);
    return reply.status(shaped?.status ?? e.status).type('application/json; charset=utf-8').send(shaped ? shaped.body : e.body());
  });
  app.setNotFoundHandler((request, reply) => {
    const e = new HttpError(404, 'not_found', `no such endpoint: ${request.method} ${request.url.split('?')[0]} (see GET /openapi.json)`);
    return reply.status(404).send(e.body());
  });

  for (const register of [...ROUTES, ...(opts.compat ? COMPAT_ROUTES : [])]) register(app, ctx);
  return app;
}

/** Whether the client's connection ends with this answer (it said so, or speaks HTTP/1.0 without keep-alive). */
function closesAfter(req: IncomingMessage): boolean {
  const connection = String(req.headers.connection ?? '').toLowerCase();
  if (/\bclose\b/.test(connection)) return true;
  return req.httpVersionMajor === 1 && req.httpVersionMinor === 0 && !/\bkeep-alive\b/.test(connection);
}

/** A refused body's rest is read and thrown away up to this many bytes (at least 4 body limits)... */
const DISCARD_BYTES = 1e9;
/** ...for at most this long... */
const DISCARD_MS = 30_000;
/** ...while it keeps coming (a client may stop sending once it has the answer); then the connection is closed. */
const DISCARD_IDLE_MS = 5_000;

/**
 * Read the rest of a request body into nothing, without holding up the answer. The body is taken
 * from whatever still reads it (the multipart parser may hold it, paused, or it may be left unread
 * after a refusal in onRequest), so that the client's upload goes on and ends: an HTTP client
 * that is still sending when the server closes the connection (Node's own does, once an answer
 * that says "Connection: close" is out) reports a reset or a broken pipe, not the answer. With the
 * rest read, the connection is even kept alive for the client's next request.
 *
 * Bounded: past `maxBytes`, DISCARD_MS in all, or DISCARD_IDLE_MS without data, the connection
 * is closed. A body declared larger than `maxBytes` is not read at all: undefined, and the answer
 * should close the connection. Else a promise of whether the whole body was read. The request is
 * in `active` meanwhile.
 */
function discardRest(req: IncomingMessage, active: Set<IncomingMessage>, maxBytes: number): Promise<boolean> | undefined {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return undefined;
  return new Promise((resolve) => {
    let seen = 0;
    const done = (ok: boolean) => {
      clearTimeout(timer);
      clearTimeout(idle);
      active.delete(req);
      req.off('data', onData).off('end', onEnd).off('error', onFail).off('close', onClose);
      if (!ok) req.socket?.destroy?.();
      resolve(ok);
    };
    const onData = (c: Buffer) => {
      seen += c.length;
      if (seen > maxBytes) done(false);
      else idle.refresh();
    };
    const onEnd = () => done(true);
    const onFail = () => done(false);
    const onClose = () => done(req.complete);
    const timer = setTimeout(() => done(false), DISCARD_MS).unref();
    const idle = setTimeout(() => done(false), DISCARD_IDLE_MS).unref();
    active.add(req);
    req.unpipe(); // the multipart parser lets go: it is not fed the rest
    req.on('data', onData).on('end', onEnd).on('error', onFail).on('close', onClose);
    req.resume();
  });
}

/** The queue is full: 503, with how long to wait. */
function overloaded(ctx: Context): HttpError {
  const l = ctx.facekit.load();
  return new HttpError(503, 'overloaded', `busy: ${l.running} images in work and ${l.waiting} waiting; try again shortly`, l.retryAfter);
}

/** Any error a handler or fastify raises, as an HttpError: never a stack trace to the client. */
function toHttpError(err: unknown, opts: ServerOptions): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof FacekitError) {
    // a warm engine's queue refused the images (all or none)
    if (err.code === 'overloaded') return new HttpError(503, 'overloaded', err.message, (err as FacekitError & { retryAfter?: number }).retryAfter ?? 1);
    // The worker thread running this image died (it was replaced): try again, it will work.
    if (err.code === 'internal' && /worker thread .* died/.test(err.message)) {
      return new HttpError(503, 'worker_lost', 'the worker thread running this image stopped and was replaced; send it again', 1);
    }
    return fromFacekit(err);
  }
  const e = err as { code?: string; statusCode?: number; message?: string };
  const msg = (e?.message ?? String(err)).split('\n')[0]!;
  // busboy's errors (the multipart parser) have no code, only these messages
  if (/^(Unexpected end of (multipart data|form)|(Part|Preamble) terminated early due to unexpected end of multipart data)$/.test(msg)) {
    return new HttpError(400, 'bad_request', 'the multipart body ended early: a part was cut off before its closing boundary (an interrupted upload, or a form without its final --BOUNDARY--)');
  }
  if (/^Multipart: Boundary not found$/.test(msg)) {
    return new HttpError(400, 'bad_request', 'multipart/form-data without a boundary: Content-Type must say multipart/form-data; boundary=...');
  }
  // the client went away in the middle of its body: nobody reads this answer, but it is no server fault
  if (e?.code === 'ECONNRESET' || e?.code === 'FST_MP_PREMATURE_CLOSE') {
    return new HttpError(400, 'bad_request', 'the client closed the connection before the whole body was sent');
  }
  switch (e?.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HttpError(400, 'bad_json', 'the body is not valid JSON (Content-Type says application/json)');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpError(400, 'bad_json', 'the body is empty but Content-Type says JSON');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
      return tooLarge(opts.bodyLimit);
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
      return new HttpError(413, 'too_large', `too many parts in one multipart request: at most ${opts.maxBatch} images per request (serve --max-batch)`);
    case 'FST_FIELDS_LIMIT':
      return new HttpError(413, 'too_large', `too many fields in one multipart request (${msg})`);
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
