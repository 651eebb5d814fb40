/**
 * The Flask face API, served by facekit (serve --compat) under /api as its clients call it:
 * health, models, an embedding, a batch of embeddings, and "milvus/insert", which adds faces to
 * the facekit gallery (the gallery file stands in for the Milvus collection).
 *
 * Its model names are taken as aliases of facekit's models: both stand for facekit's default
 * (its most accurate model, and the default gallery's), so that whichever name a client sends, its
 * embeddings compare with the gallery's and its inserts go into the one gallery. facekit's own
 * names (resnet34, faceres, mobilefacenet, faceplugin) are taken too; any other name is a 400.
 */
import { basename, extname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { DEFAULT_RECOGNIZER, RECOGNIZERS, isRecognizerId, type Gallery, type RecognizerId } from '../../index.js';
import { badRequest, fromFacekit, tooManyImages } from '../http-errors.js';
import { bytesProblem, uploadsOf, type OptionValue } from '../inputs.js';
import { addPhotos, checkLabel } from '../gallery-add.js';
import { all, imageFailure, items, one, read, withDeadline, type Context } from '../context.js';

/** The Flask API's model names, and the facekit model each stands for. */
export const MODEL_ALIASES: Readonly<Record<string, RecognizerId>> = {
  cosface_resnet50: DEFAULT_RECOGNIZER,
  mobilenetv3_large: DEFAULT_RECOGNIZER,
};
/** The routes that run models (refused at once when the queue is full). */
export const FLASK_MODEL_ROUTES = ['/api/embedding', '/api/embeddings/batch', '/api/milvus/insert'];

const MODEL_NAMES = [...Object.keys(MODEL_ALIASES), ...Object.keys(RECOGNIZERS)];

/** The model a request names (an alias or a facekit model), or the gallery's; the name is answered as given. */
function modelOf(value: OptionValue | undefined, g: Gallery): { name: string; model: RecognizerId } {
  if (value === undefined) return { name: g.meta.model, model: g.meta.model as RecognizerId };
  const name = String(value);
  if (Object.hasOwn(MODEL_ALIASES, name)) return { name, model: MODEL_ALIASES[name]! };
  if (isRecognizerId(name)) return { name, model: name };
  throw badRequest(`unknown model "${name}"; this server takes: ${MODEL_NAMES.join(', ')} (${Object.entries(MODEL_ALIASES).map(([a, m]) => `${a} stands for ${m}`).join(', ')})`);
}

/** image_paths: a JSON array of strings, one per image. */
function pathsOf(value: OptionValue, images: number): string[] {
  let list: unknown;
  try {
    list = JSON.parse(String(value));
  } catch {
    throw badRequest('"image_paths" must be a JSON array of strings, one per image');
  }
  if (!Array.isArray(list) || !list.every((p) => typeof p === 'string')) throw badRequest('"image_paths" must be a JSON array of strings, one per image');
  if (list.length !== images) throw badRequest(`"image_paths" names ${list.length} image${list.length === 1 ? '' : 's'}, but ${images} ${images === 1 ? 'was' : 'were'} sent`);
  return list.map((p: string) => p.slice(0, 200));
}

/** Embeddings that may be compared with the gallery's are made the way the gallery's were. */
function settingsFor(gallery: Gallery, model: RecognizerId) {
  return model === gallery.meta.model ? gallery.settings() : { model, detector: gallery.settings().detector };
}

export function registerFlaskRoutes(app: FastifyInstance, ctx: Context): void {
  const { opts, gallery, facekit } = ctx;
  const modelOption = { model: { kind: 'string' as const } };

  app.get('/api/health', async () => {
    let readable = true;
    try {
      await gallery.refresh();
    } catch (err) {
      readable = false;
      opts.log(`GET /api/health: the gallery cannot be read: ${(err as Error).message.split('\n')[0]}`);
    }
    return { status: 'healthy', models_loaded: MODEL_NAMES, milvus_connected: readable };
  });

  app.get('/api/models', async () => ({
    models: [
      ...Object.entries(MODEL_ALIASES).map(([name, m]) => ({
        name, embedding_dim: RECOGNIZERS[m].dim, description: `an alias of facekit's ${m}: ${RECOGNIZERS[m].description}`,
      })),
      ...Object.values(RECOGNIZERS).map((r) => ({ name: r.id, embedding_dim: r.dim, description: `facekit's ${r.id}: ${r.description}` })),
    ],
  }));

  app.post('/api/embedding', async (request, reply) => {
    const body = await read(ctx, request, { images: { image: 1 }, options: modelOption });
    const upload = one(body, 'image');
    const m = modelOf(body.options.model, gallery);
    const [records] = await withDeadline(ctx, request, reply, (signal) => all(facekit.batch('represent', items([upload]), { ...settingsFor(gallery, m.model), largestOnly: true, signal })));
    const fail = imageFailure(records!);
    if (fail) throw fail;
    const f = records!.find((r) => r.embedding);
    if (!f) throw fromFacekit(records!.find((r) => r.error)?.error ?? { code: 'no_face', message: 'no face found' }, upload.name);
    return { success: true, model: m.name, embedding: f.embedding!.vector, embedding_dim: f.embedding!.dim };
  });

  app.post('/api/embeddings/batch', async (request, reply) => {
    // bytes that are no image are a failed result, not a failed request: checked here, one by one
    const body = await read(ctx, request, { images: { images: opts.maxBatch }, options: modelOption, checkBytes: false });
    const uploads = uploadsOf(body, 'images');
    if (uploads.length === 0) throw badRequest('send the images in "images"');
    if (uploads.length > opts.maxBatch) throw tooManyImages(`at most ${opts.maxBatch} images per request (serve --max-batch)`);
    const m = modelOf(body.options.model, gallery);
    const good = uploads.filter((u) => bytesProblem(u.bytes) === undefined);
    const results = good.length
      ? await withDeadline(ctx, request, reply, (signal) => all(facekit.batch('represent', items(good), { ...settingsFor(gallery, m.model), largestOnly: true, signal })))
      : [];
    let next = 0;
    const out = uploads.map((u) => {
      const problem = bytesProblem(u.bytes);
      if (problem !== undefined) return { filename: u.name, embedding: null, success: false, error: problem };
      const records = results[next++]!;
      const f = records.find((r) => r.embedding);
      if (f) return { filename: u.name, embedding: f.embedding!.vector, success: true };
      return { filename: u.name, embedding: null, success: false, error: records.find((r) => r.error)?.error?.message ?? 'no face found' };
    });
    const successful = out.filter((r) => r.success).length;
    return { success: true, model: m.name, results: out, total: out.length, successful, failed: out.length - successful };
  });

  app.post('/api/milvus/insert', async (request, reply) => {
    const body = await read(ctx, request, {
      images: { images: opts.maxBatch },
      options: { person_id: { kind: 'string' }, ...modelOption, image_paths: { kind: 'string' } },
      required: ['person_id'],
    });
    const label = checkLabel(body.options.person_id as string, 'person_id');
    let uploads = uploadsOf(body, 'images');
    if (uploads.length === 0) throw badRequest('send the person\'s photos in "images"');
    if (uploads.length > opts.maxBatch) throw tooManyImages(`at most ${opts.maxBatch} photos per request (serve --max-batch)`);
    if (body.options.image_paths !== undefined) {
      const paths = pathsOf(body.options.image_paths, uploads.length);
      uploads = uploads.map((u, i) => ({ ...u, name: paths[i]! || u.name }));
    }
    const model = body.options.model === undefined ? undefined : modelOf(body.options.model, gallery).model;
    const out = await addPhotos(ctx, request, reply, label, uploads, { model });
    const n = out.added.length;
    const notes = [
      ...(out.skipped.length ? [`${out.skipped.length} already in the gallery (${out.skipped.map((s) => `${s.image}: ${s.label}`).join(', ')})`] : []),
      ...(out.failed.length ? [`${out.failed.length} left out (${out.failed.map((f) => `${f.image}: ${f.error.message}`).join('; ')})`] : []),
    ];
    return {
      success: true,
      message: `inserted ${n} face${n === 1 ? '' : 's'} of ${label}${notes.length ? `; ${notes.join('; ')}` : ''}`,
      inserted_count: n,
      collection: basename(gallery.location, extname(gallery.location)),
    };
  });
}
